# What the script tests share; sourced by them, from the top of the repo.

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect_no_stage SCRIPT: "SCRIPT 9" says there is no stage '9' in one
# line and exits 2.
expect_no_stage() {
    local status=0 error
    error=$("$1" 9 2>&1) || status=$?
    [ "$status" = 2 ] || fail "$1 9 exited $status, not 2"
    [[ $error == *"no stage '9'"* ]] || fail "$1 9 said: $error"
    echo "ok: $1 9 says there is no stage '9' and exits 2"
}
