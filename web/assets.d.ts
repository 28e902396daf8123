// Virtual modules made by scripts/build.mjs (esbuild plugin): the stylesheet and the
// script under web/static/, and the templates under web/views/, as text in the bundle.
declare module 'nasauth-web-assets' {
  const assets: { css: string; js: string };
  export default assets;
}
declare module 'nasauth-web-views' {
  const views: Record<string, string>;
  export default views;
}
