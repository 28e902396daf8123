// Filled in by the bundler from package.json; the fallback serves ts-node runs.
declare const __NASAUTH_VERSION__: string | undefined;
export const VERSION: string = typeof __NASAUTH_VERSION__ !== 'undefined' ? __NASAUTH_VERSION__ : '0.1.0-dev';
