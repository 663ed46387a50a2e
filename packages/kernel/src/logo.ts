// The kernel's logo, one design for every host: a causal attention mask (the lower triangle of a
// 4 x 4 grid, diagonal brightest) on TypeScript blue. `logoCells` is the geometry, so hosts that
// need pixels (the Node kernelspec's PNGs) draw the same picture the SVG shows.

export const LOGO_BACKGROUND = '#3178c6';

/** Squares of the 64 x 64 logo: x, y, size and white opacity. */
export function logoCells(): { x: number; y: number; size: number; opacity: number }[] {
  const cells = [];
  for (let i = 0; i < 4; i++) for (let j = 0; j <= i; j++) cells.push({ x: 9 + j * 12, y: 9 + i * 12, size: 10, opacity: j === i ? 1 : 0.5 });
  return cells;
}

export const LOGO_SVG =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="${LOGO_BACKGROUND}"/>` +
  logoCells().map((c) => `<rect x="${c.x}" y="${c.y}" width="${c.size}" height="${c.size}" rx="2" fill="#fff" fill-opacity="${c.opacity}"/>`).join('') +
  '</svg>';
