/**
 * @attnlab/widgets — the kernel side of the jupyter.widget protocol 2.1 for attnlab notebooks:
 * stock controls (IntSlider, FloatSlider, Dropdown, Checkbox, Button, Text, HBox, VBox, Output),
 * HeadSteering (a model's per-head controls as a grid) and AttentionExplorer. The views of the
 * last two come from @attnlab/widgets-extension.
 */
export { WidgetModel, WIDGET_VIEW_MIME, PROTOCOL_VERSION, type ModelSpec, type Change } from './widget.js';
export { Layout, IntSlider, FloatSlider, Checkbox, Text, Dropdown, Button, HBox, VBox, Output } from './controls.js';
export { HeadSteering, type HeadsLike, type HeadSteeringOptions, WIDGETS_EXTENSION, WIDGETS_EXTENSION_VERSION } from './head-steering.js';
export { SweepResult, type SweepEntry, type SweepResultOptions, type AblationLike, type GridLike } from './sweep-result.js';
export { readScore, scoreRange, scoreColor, legendStops, isDiverging, textColorOn, type ScoreSource, type ScoreValues, type TensorLike } from './score-layer.js';
export { AttentionExplorer, type Patterns } from './attention-explorer.js';
export { toControl, fromControl, checkPatch, targets, parseAction, NEUTRAL, PERTURB_CHOICES, type SteeringCell, type SteeringAction, type PerturbChoice, type HeadControlLike } from './steering-state.js';
export { liveWidgets } from './registry.js';
