/** Runs in every test file: temp dirs made through test/helpers.ts are removed when the file ends. */
import { afterAll } from 'vitest';
import { removeTempDirs } from './tmp.js';

afterAll(() => removeTempDirs());
