// The entry stays tiny and loads the app asynchronously: module federation needs the shared
// scope initialised (main.ts does that) before any shared package is imported.
import('./main');
