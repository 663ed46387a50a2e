// plotly.js-dist-min is already minified: running terser over its 4.6 MB again takes a minute
// of build time for nothing. Everything else is minified as usual.
const TerserPlugin = require('terser-webpack-plugin');

module.exports = {
  optimization: { minimizer: [new TerserPlugin({ exclude: /plotly/ })] },
};
