/**
 * The figure's config with the cloud features off: this is an offline tool, so no "Edit in Chart
 * Studio" / share button and no plotly logo, whatever the figure asks for.
 */
export function plotlyConfig(config: Record<string, unknown> | undefined): Record<string, unknown> {
  const remove = new Set([...((config?.['modeBarButtonsToRemove'] as string[] | undefined) ?? []), 'sendDataToCloud', 'editInChartStudio']);
  return { responsive: true, ...(config ?? {}), displaylogo: false, showLink: false, showSendToCloud: false, showEditInChartStudio: false, modeBarButtonsToRemove: [...remove] };
}
