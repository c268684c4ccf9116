#!/usr/bin/env bash
# A hand-made Ray cluster for ranktune: machines you already have, on one private network.
#
#   cluster/manual.sh token                       # on the head machine: create ~/.ray/auth_token (mode 600)
#   scp ~/.ray/auth_token worker:.ray/auth_token  # copy the token to every worker (through SSH, never by mail)
#   cluster/manual.sh head   10.0.0.5             # on the head: its private address
#   cluster/manual.sh worker 10.0.0.5 10.0.0.6    # on each worker: the head's address, then its own
#   python -m tune.run SPEC --address 10.0.0.5:6379 --storage /mnt/nfs/ranktune --shared-storage
#   cluster/manual.sh stop                        # on every machine
#
# Security: every node runs with RAY_AUTH_MODE=token (`ray start --head` does not turn it on by itself); the
# dashboard and job API bind to 127.0.0.1 (reach them with `ssh -L 8265:127.0.0.1:8265 head`); the GCS and Ray
# client ports bind to the private address given, and the script refuses an address outside the private ranges
# (10/8, 172.16/12, 192.168/16, 127/8, 100.64/10) unless RANKTUNE_ALLOW_PUBLIC=1.
#
# Environment: RAY_PORT (6379), RAY_CLIENT_PORT (10001), RAY_NUM_GPUS (detected), RAY_NUM_CPUS (detected).

set -euo pipefail

PORT=${RAY_PORT:-6379}
CLIENT_PORT=${RAY_CLIENT_PORT:-10001}
TOKEN=$HOME/.ray/auth_token

usage() {
    sed -n '4,9p' "$0" >&2
    exit 2
}

# Succeeds when $1 is an IPv4 address in a private, shared-address or loopback range.
is_private() {
    local ip=$1
    [[ $ip =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || return 1
    IFS=. read -r a b _ _ <<<"$ip"
    ((a == 10 || a == 127)) && return 0
    ((a == 172 && b >= 16 && b <= 31)) && return 0
    ((a == 192 && b == 168)) && return 0
    ((a == 100 && b >= 64 && b <= 127)) && return 0
    return 1
}

check_address() {
    local ip=$1
    if ! is_private "$ip" && [[ ${RANKTUNE_ALLOW_PUBLIC:-0} != 1 ]]; then
        echo "error: $ip is not a private IPv4 address; Ray's ports would be open to the internet" \
            "(allowed: an address in 10/8, 172.16/12, 192.168/16, 100.64/10 or 127/8," \
            "or RANKTUNE_ALLOW_PUBLIC=1 behind a firewall)" >&2
        exit 2
    fi
}

require_token() {
    if [[ ! -s $TOKEN ]]; then
        echo "error: $TOKEN is missing (allowed: run 'cluster/manual.sh token' on the head, then copy it here)" >&2
        exit 2
    fi
    chmod 600 "$TOKEN"
    export RAY_AUTH_MODE=token
    export RAY_AUTH_TOKEN_PATH=$TOKEN
}

resource_flags() {
    local flags=()
    [[ -n ${RAY_NUM_CPUS:-} ]] && flags+=("--num-cpus=$RAY_NUM_CPUS")
    [[ -n ${RAY_NUM_GPUS:-} ]] && flags+=("--num-gpus=$RAY_NUM_GPUS")
    echo "${flags[@]}"
}

cmd=${1:-}
case $cmd in
token)
    if [[ -s $TOKEN ]]; then
        echo "$TOKEN exists; copy it to every node"
    else
        mkdir -p "$(dirname "$TOKEN")"
        (umask 077 && ray get-auth-token --generate >/dev/null)
        chmod 600 "$TOKEN"
        echo "created $TOKEN; copy it to every node"
    fi
    ;;
head)
    [[ $# -eq 2 ]] || usage
    check_address "$2"
    require_token
    # shellcheck disable=SC2046  # the resource flags are meant to split into words
    ray start --head --node-ip-address="$2" --port="$PORT" \
        --ray-client-server-port="$CLIENT_PORT" --dashboard-host=127.0.0.1 \
        --disable-usage-stats $(resource_flags)
    echo "send searches with: python -m tune.run SPEC --address $2:$PORT"
    ;;
worker)
    [[ $# -eq 3 ]] || usage
    check_address "$2"
    check_address "$3"
    require_token
    # shellcheck disable=SC2046  # the resource flags are meant to split into words
    ray start --address="$2:$PORT" --node-ip-address="$3" --disable-usage-stats $(resource_flags)
    ;;
stop)
    ray stop
    ;;
*)
    usage
    ;;
esac
