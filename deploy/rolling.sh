#!/usr/bin/env bash
# deploy job: the rolling deploy of the release artifact, by digest, to every instance of $TARGET_ENV.
#
#   deploy/rolling.sh sha256:<64 hex>
#
# For golive's sandbox (TARGET_ENV=sandbox or sandbox-*, GOLIVE_SANDBOX_DIR set) the step is real and local: it
# tells the running sandbox to deploy (`golive sandbox deploy`): every instance then serves the new release and
# the jobs paused for the go-live run again.
#
# For a real environment this is a TEMPLATE: replace the block marked below with your platform's rolling deploy.
# Until then it fails loudly (exit 3), so a pipeline can never pretend it deployed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=deploy/common.sh
. "$here/common.sh"

digest="${1:-}"
require_digest "$digest"

if is_sandbox; then
  require_sandbox_release "$digest"
  echo "deploy/rolling.sh: sandbox: rolling ${GOLIVE_RELEASE_TAG:-the release} ($digest) out to every instance"
  exec golive sandbox deploy --dir "$GOLIVE_SANDBOX_DIR"
fi

# ---- your rolling deploy goes here -------------------------------------------------------------------------
# Roll "$digest" (never a mutable tag) out to every instance, one batch at a time, and wait for it, e.g.:
#   kubectl -n app set image deployment/app app="registry.example.com/app@$digest"
#   kubectl -n app rollout status deployment/app --timeout=600s
# Then delete the two lines below.
echo "deploy/rolling.sh: no rolling deploy is configured for environment '${TARGET_ENV:-unset}':" \
  "edit deploy/rolling.sh (the block marked 'your rolling deploy goes here')" >&2
exit 3
