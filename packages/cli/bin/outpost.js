#!/usr/bin/env node
// The `outpost` command; the code lives in ../dist (built by `npm run build` at the repo root).
import { run } from '../dist/main.js';

await run();
