# Shared by deploy/canary.sh and deploy/rolling.sh (sourced, not run).

die() {
  echo "$(basename "$0"): $*" >&2
  exit 2
}

# The artifact is named by an immutable digest, never by a mutable tag such as `latest`.
require_digest() {
  [[ "${1:-}" =~ ^sha256:[0-9a-f]{64}$ ]] ||
    die "the artifact must be referenced by an immutable digest sha256:<64 hex>, got '${1:-}' (set GOLIVE_RELEASE_DIGEST)"
}

# The target is golive's sandbox when TARGET_ENV names a sandbox environment (sandbox, sandbox-*) and a running
# sandbox's directory is given (GOLIVE_SANDBOX_DIR, set by `golive sandbox up` and `make pipeline`).
is_sandbox() {
  case "$(basename "${TARGET_ENV:-}" .toml)" in
    sandbox | sandbox-*) [ -n "${GOLIVE_SANDBOX_DIR:-}" ] ;;
    *) return 1 ;;
  esac
}

# The sandbox ships exactly one release: deploying another digest there is a mistake, said so.
require_sandbox_release() {
  [ "$1" = "${GOLIVE_RELEASE_DIGEST:-}" ] ||
    die "the sandbox serves release ${GOLIVE_RELEASE_TAG:-?} (${GOLIVE_RELEASE_DIGEST:-no digest}); cannot deploy $1 there"
  [ -f "$GOLIVE_SANDBOX_DIR/state.json" ] ||
    die "no running sandbox in $GOLIVE_SANDBOX_DIR (start it: golive sandbox up --dir $GOLIVE_SANDBOX_DIR)"
}
