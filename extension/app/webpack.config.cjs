/*
 * Builds the JupyterLab 4 front end used by the browser tests and `npm start` when the user has no
 * JupyterLab of their own: JupyterLab's dev_mode build (tag v4.6.3, webpack flavour of v4.5.10)
 * with the plugins in app.json (every core plugin of that release and the widget manager). It is a module-federation host, so prebuilt extensions
 * (mixdistill-labextension) load at run time exactly as in a user's JupyterLab.
 * Adapted from jupyterlab/jupyterlab dev_mode/webpack.config.js (BSD-3-Clause).
 */
const path = require('path');
const fs = require('fs-extra');
const Handlebars = require('handlebars');
const HtmlWebpackPlugin = require('html-webpack-plugin');
const webpack = require('webpack');
const merge = require('webpack-merge').default;
const baseConfig = require('@jupyterlab/builder/lib/webpack.config.base');
const { Build } = require('@jupyterlab/builder');
const { ModuleFederationPlugin } = webpack.container;

const here = __dirname;
const app = require('./app.json');
// Shared-package metadata of the JupyterLab release the packages are pinned to.
const core = require('../core/package.json');
const buildDir = path.resolve(process.env.MIXDISTILL_APP_BUILD_DIR || path.join(here, 'build'));

const resolvable = pkg => {
  try {
    require.resolve(`${pkg}/package.json`, { paths: [here] });
    return true;
  } catch {
    return false;
  }
};
const versionOf = pkg => require(require.resolve(`${pkg}/package.json`, { paths: [here] })).version;

fs.removeSync(buildDir);
fs.ensureDirSync(buildDir);

// Schemas, themes and the CSS import list (style.js) of the plugins, into the build directory.
// app.json maps each package to the module holding its plugins ('' = the package's main).
const extensionPackages = [...new Set([...Object.keys(app.extensions), ...Object.keys(app.mimeExtensions)])];
const assetConfig = Build.ensureAssets({ packageNames: extensionPackages, output: buildDir });

const template = Handlebars.compile(fs.readFileSync(path.join(here, 'index.js')).toString());
fs.writeFileSync(
  path.join(buildDir, 'index.out.js'),
  template({ jupyterlab_extensions: app.extensions, jupyterlab_mime_extensions: app.mimeExtensions })
);
const entryPoint = path.join(buildDir, 'bootstrap.js');
fs.copySync(path.join(here, 'bootstrap.js'), entryPoint);

// Module federation: every core package a prebuilt extension may import is shared, singletons as in
// JupyterLab itself; only packages installed here can be provided.
const shared = {};
for (const [pkg, requiredVersion] of Object.entries(core.resolutions)) {
  if (resolvable(pkg)) shared[pkg] = { requiredVersion };
}
for (const pkg of extensionPackages) {
  if (!shared[pkg]) shared[pkg] = { requiredVersion: versionOf(pkg) };
  const { dependencies = {} } = require(require.resolve(`${pkg}/package.json`, { paths: [here] }));
  for (const [dep, requiredVersion] of Object.entries(dependencies)) {
    if (!shared[dep] && resolvable(dep)) shared[dep] = { requiredVersion };
  }
}
// The widget base package is one instance per page, as every widget extension (anywidget, ipywidgets'
// controls) declares it.
for (const pkg of [...core.jupyterlab.singletonPackages, '@jupyter-widgets/base']) {
  if (shared[pkg]) shared[pkg].singleton = true;
}

module.exports = [
  merge(baseConfig, {
    mode: 'development',
    context: here,
    entry: { main: [path.join(here, 'publicpath.js'), entryPoint] },
    output: {
      path: buildDir,
      publicPath: '{{page_config.fullStaticUrl}}/',
      filename: '[name].[contenthash].js'
    },
    optimization: {
      splitChunks: {
        chunks: 'all',
        cacheGroups: {
          jlab_core: { test: /[\\/]node_modules[\\/]@(jupyterlab|lumino(?!\/datagrid))[\\/]/, name: 'jlab_core' }
        }
      }
    },
    module: {
      rules: [
        // The generated CSS import list lives inside this package, whose package.json marks only
        // style/ as having side effects: without this rule webpack drops every core stylesheet.
        { test: /[\\/]style\.js$/, include: buildDir, sideEffects: true }
      ]
    },
    // FAST (under @jupyter/web-components) at the versions JupyterLab 4.6.3 ships (its yarn.lock):
    // with fast-foundation 2.50 / fast-element 1.14 every theme change loops in DesignToken updates
    // ("Maximum call stack size exceeded") and the page hangs.
    resolve: {
      alias: {
        '@microsoft/fast-foundation': path.dirname(require.resolve('@microsoft/fast-foundation/package.json', { paths: [here] })),
        '@microsoft/fast-element': path.dirname(require.resolve('@microsoft/fast-element/package.json', { paths: [here] }))
      }
    },
    devtool: false,
    externals: ['ws'],
    plugins: [
      new HtmlWebpackPlugin({
        chunksSortMode: 'none',
        template: path.join(here, 'templates', 'template.html'),
        title: app.name
      }),
      new ModuleFederationPlugin({
        library: { type: 'var', name: ['_JUPYTERLAB', 'CORE_LIBRARY_FEDERATION'] },
        name: 'CORE_FEDERATION',
        shared
      })
    ]
  })
].concat(assetConfig);
