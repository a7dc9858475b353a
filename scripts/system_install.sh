# Sourced by scripts/install_*.sh: install Debian packages a group of tests needs,
# saying what and why before touching the system. Without them those tests are
# skipped with the reason. FLOWYARD_NO_SYSTEM_INSTALL=1 leaves the system alone.

# install_system_packages LABEL "PACKAGES" PURPOSE TESTS
#   e.g. install_system_packages graphviz graphviz "the 'flowc graph --format svg' tests can run" "the svg tests"
install_system_packages() {
    local label="$1" packages="$2" purpose="$3" tests="$4"
    if [ "${FLOWYARD_NO_SYSTEM_INSTALL:-}" = 1 ]; then
        echo "note: $label is not installed; $tests will be skipped" >&2
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
        echo "note: $label is not installed and cannot be installed here (needs apt-get as root);" \
            "$tests will be skipped" >&2
        return 0
    fi
    echo "installing $label system-wide (apt-get install $packages) so $purpose;" \
        "set FLOWYARD_NO_SYSTEM_INSTALL=1 to skip this (those tests are then skipped)" >&2
    # shellcheck disable=SC2086 # the package list is split on purpose
    (apt-get update -qq && apt-get install -y -qq $packages >/dev/null) \
        || echo "note: $label could not be installed; $tests will be skipped" >&2
}
