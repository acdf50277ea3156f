#!/usr/bin/env bash
# deploy-canary job: put the release artifact, by digest, on the canary instance of $TARGET_ENV.
#
#   deploy/canary.sh sha256:<64 hex>
#
# For golive's sandbox (TARGET_ENV=sandbox or sandbox-*, GOLIVE_SANDBOX_DIR set) the step is real and local: the
# sandbox's canary instance is the one that serves the release being shipped (the baselines keep the previous
# release until the rolling deploy), so this checks the digest is that release and the sandbox is running.
#
# For a real environment this is a TEMPLATE: replace the block marked below with your platform's canary deploy.
# Until then it fails loudly (exit 3), so a pipeline can never pretend it deployed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=deploy/common.sh
. "$here/common.sh"

digest="${1:-}"
require_digest "$digest"

if is_sandbox; then
  require_sandbox_release "$digest"
  echo "deploy/canary.sh: sandbox: the canary instance serves ${GOLIVE_RELEASE_TAG:-the release} ($digest)" \
    "at ${GOLIVE_SANDBOX_CANARY_URL:-its canary URL}; the baselines keep the previous release until deploy/rolling.sh"
  exit 0
fi

# ---- your canary deploy goes here --------------------------------------------------------------------------
# Deploy "$digest" (never a mutable tag) to the canary only, and wait until it is rolled out, e.g.:
#   kubectl -n app set image deployment/app-canary app="registry.example.com/app@$digest"
#   kubectl -n app rollout status deployment/app-canary --timeout=300s
# Then delete the two lines below.
echo "deploy/canary.sh: no canary deploy is configured for environment '${TARGET_ENV:-unset}':" \
  "edit deploy/canary.sh (the block marked 'your canary deploy goes here')" >&2
exit 3
