#!/usr/bin/env bash
# Fails when any import cycle exists, starting from every top-level public surface (STYLE §5).
# dpdm exits 1 when it finds a circular dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
exec npx dpdm --no-warning --no-tree --exit-code circular:1 --transform \
  broker/index.ts gateways/index.ts security/index.ts schemas/index.ts cli/index.ts cli/main.ts
