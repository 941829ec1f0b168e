export * from './module.ts';
export * from './layers.ts';
export * from './attention.ts';
export * as init from './init.ts';
