#!/usr/bin/env node
// The device daemon: everything lives in the single bundled file (npm run build -w @outpost/agent).
import '../dist/outpost-agent.mjs';
