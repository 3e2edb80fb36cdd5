#!/usr/bin/env bash
# The OpenSSH-tools baseline for bench/Invoke-Benchmark.ps1: the same firmware steps our cmdlets do,
# written the way an administrator would script them with ssh and ssh-keygen, one command after another.
#
#   openssh-baseline.sh WORKLOAD STATE_DIR MODULE_REGISTRY_JSON
#
# WORKLOAD   enroll | roll | test | getkeys | backup | restore
# STATE_DIR  the baseline "host": keys/<svc>(.pub), keys/default (the well-known default credential,
#            written by the harness), known_hosts, backup.key
# MODULE_REGISTRY_JSON  <hostPath>/module-registry.json: the registered (simulated) modules to work on
# BASELINE_PASSPHRASE (env) passphrase for backup/restore.
#
# Every ssh call checks the server key against STATE_DIR/known_hosts (StrictHostKeyChecking=yes, HostKeyAlias
# nshield-<ESN>-<service>); only the first contact of enroll uses accept-new (trust on first use: "nothing fancy").
# Replies are checked for "ok":true; any failure stops the script with a non-zero status.
set -euo pipefail
wl=$1; st=$2; bus=$3
keys="$st/keys"; kh="$st/known_hosts"
mkdir -p "$keys"; touch "$kh"
user=$(id -un)
svcs=(sshadmin ncoreapi setup updater monitor launcher)
mapfile -t mods < <(jq -r '.[] | [.esn, .ports.sshadmin, .ports.ncoreapi, .ports.setup, .ports.updater, .ports.monitor, .ports.launcher] | @tsv' "$bus")
(( ${#mods[@]} > 0 )) || { echo "baseline: no modules in $bus" >&2; exit 1; }

# sshx KEYFILE ESN SERVICE PORT VERB  (stdin: body, or /dev/null)
sshx() {
    ssh -F /dev/null -i "$1" -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR \
        -o UserKnownHostsFile="$kh" -o GlobalKnownHostsFile=/dev/null \
        -o StrictHostKeyChecking="${STRICT:-yes}" -o HostKeyAlias="nshield-$2-$3" \
        -p "$4" "$user@127.0.0.1" "$5"
}
ok() { # REPLY WHAT
    case "$1" in *'"ok":true'*) ;; *) echo "baseline: $2 failed: $1" >&2; exit 1 ;; esac
}
port() { # index of service in svcs -> field
    local i; for i in "${!svcs[@]}"; do [[ ${svcs[$i]} == "$1" ]] && { echo "${ports[$i]}"; return; }; done
}
newkey() { rm -f "$1" "$1.pub"; ssh-keygen -q -t ed25519 -N '' -C "baseline-$(basename "$1")" -f "$1"; }
fp() { ssh-keygen -lf "$1" | awk '{print $2}'; }

case "$wl" in
enroll)
    for s in "${svcs[@]}"; do newkey "$keys/$s"; done
    body=$(jq -nc --arg a "$(cat "$keys/sshadmin.pub")" --arg b "$(cat "$keys/ncoreapi.pub")" --arg c "$(cat "$keys/setup.pub")" \
        --arg d "$(cat "$keys/updater.pub")" --arg e "$(cat "$keys/monitor.pub")" --arg f "$(cat "$keys/launcher.pub")" \
        '{clientKeys:{sshadmin:$a,ncoreapi:$b,setup:$c,updater:$d,monitor:$e,launcher:$f}}')
    for m in "${mods[@]}"; do
        read -r esn p0 p1 p2 p3 p4 p5 <<<"$m"; ports=("$p0" "$p1" "$p2" "$p3" "$p4" "$p5")
        r=$(STRICT=accept-new sshx "$keys/default" "$esn" sshadmin "$p0" identity </dev/null); ok "$r" "identity $esn"
        # Pin the other services' server keys from the identity reply (no certificate check: nothing fancy).
        for s in "${svcs[@]:1}"; do
            echo "nshield-$esn-$s $(jq -r --arg s "$s" '.result.serverKeys[$s].publicKey' <<<"$r" | awk '{print $1" "$2}')" >>"$kh"
        done
        r=$(sshx "$keys/default" "$esn" sshadmin "$p0" enroll <<<"$body"); ok "$r" "enroll $esn"
        for s in "${svcs[@]}"; do r=$(sshx "$keys/$s" "$esn" "$s" "$(port "$s")" ping </dev/null); ok "$r" "ping $s $esn"; done
    done ;;
roll)
    # sshadmin last: once its new key is in, the old one is removed through the new one.
    order=(ncoreapi setup updater monitor launcher sshadmin)
    declare -A old
    for s in "${order[@]}"; do newkey "$keys/$s.new"; old[$s]=$(fp "$keys/$s.pub"); done
    for m in "${mods[@]}"; do
        read -r esn p0 p1 p2 p3 p4 p5 <<<"$m"; ports=("$p0" "$p1" "$p2" "$p3" "$p4" "$p5")
        admin="$keys/sshadmin"
        for s in "${order[@]}"; do
            r=$(sshx "$admin" "$esn" sshadmin "$p0" keys.add <<<"$(jq -nc --arg s "$s" --arg k "$(cat "$keys/$s.new.pub")" '{service:$s,publicKey:$k}')"); ok "$r" "keys.add $s $esn"
            r=$(sshx "$keys/$s.new" "$esn" "$s" "$(port "$s")" ping </dev/null); ok "$r" "ping new $s $esn"
            [[ $s == sshadmin ]] && admin="$keys/sshadmin.new"
            r=$(sshx "$admin" "$esn" sshadmin "$p0" keys.remove <<<"$(jq -nc --arg s "$s" --arg f "${old[$s]}" '{service:$s,fingerprint:$f}')"); ok "$r" "keys.remove $s $esn"
        done
    done
    for s in "${order[@]}"; do mv -f "$keys/$s.new" "$keys/$s"; mv -f "$keys/$s.new.pub" "$keys/$s.pub"; done ;;
test)
    for m in "${mods[@]}"; do
        read -r esn p0 p1 p2 p3 p4 p5 <<<"$m"; ports=("$p0" "$p1" "$p2" "$p3" "$p4" "$p5")
        for s in "${svcs[@]}"; do r=$(sshx "$keys/$s" "$esn" "$s" "$(port "$s")" ping </dev/null); ok "$r" "ping $s $esn"; done
    done ;;
getkeys)
    for s in "${svcs[@]}"; do ssh-keygen -lf "$keys/$s.pub"; done
    ssh-keygen -lf "$kh" ;;
backup)
    cp "$keys/sshadmin" "$st/backup.key"; chmod 600 "$st/backup.key"
    ssh-keygen -q -p -P '' -N "$BASELINE_PASSPHRASE" -f "$st/backup.key" >/dev/null ;;
restore)
    # The host lost its keys: decrypt the sshadmin backup, prove it on every module, new keys for the five others.
    cp "$st/backup.key" "$keys/sshadmin"; chmod 600 "$keys/sshadmin"
    ssh-keygen -q -p -P "$BASELINE_PASSPHRASE" -N '' -f "$keys/sshadmin" >/dev/null
    ssh-keygen -y -f "$keys/sshadmin" >"$keys/sshadmin.pub"
    for s in "${svcs[@]:1}"; do newkey "$keys/$s"; done
    for m in "${mods[@]}"; do
        read -r esn p0 p1 p2 p3 p4 p5 <<<"$m"; ports=("$p0" "$p1" "$p2" "$p3" "$p4" "$p5")
        r=$(sshx "$keys/sshadmin" "$esn" sshadmin "$p0" identity </dev/null); ok "$r" "identity $esn"
        for s in "${svcs[@]:1}"; do
            r=$(sshx "$keys/sshadmin" "$esn" sshadmin "$p0" keys.set <<<"$(jq -nc --arg s "$s" --arg k "$(cat "$keys/$s.pub")" '{service:$s,publicKeys:[$k]}')"); ok "$r" "keys.set $s $esn"
            r=$(sshx "$keys/$s" "$esn" "$s" "$(port "$s")" ping </dev/null); ok "$r" "ping $s $esn"
        done
    done ;;
*) echo "unknown workload $wl" >&2; exit 2 ;;
esac
