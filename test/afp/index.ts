export * from './errors';
export * from './dsi';
export * from './dhx2';
export * from './cast5';
export * from './client';
