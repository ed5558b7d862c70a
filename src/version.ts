// Layer: shared. Contract: the version the CLI and `status` report; a unit
// test keeps it equal to package.json's.
export const VERSION = '0.2.0';
