#!/usr/bin/env bash
# The Debian package, end to end: cpack builds it from the already-built tree;
# its control data and contents are checked; dpkg installs it into a
# throwaway root (chrootless: the maintainer scripts run here with DPKG_ROOT
# set), where the installed binary validates the installed configuration and
# systemd-analyze verifies the installed unit and scores its exposure; dpkg
# removes and purges it; lintian checks the .deb.
#
#   tests/package_test.sh BUILD_DIR SOURCE_DIR      (ctest: package.deb)
#
# Exit 77 (ctest: skipped) when a tool is missing; packaging/install-deps.sh
# installs them all, and CI runs it first.
set -euo pipefail
build=$(realpath "$1")
src=$(realpath "$2")

for tool in cpack dpkg dpkg-deb dpkg-shlibdeps lintian systemd-analyze useradd; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is missing (packaging/install-deps.sh installs it)"
    exit 77
  fi
done
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: dpkg --root needs root here"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

step "cpack -G DEB"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 || {
  cat "$work/cpack.log"
  fail "cpack"
}
debs=("$work"/out/tailtrack_*.deb)
[[ -f ${debs[0]} ]] || fail "no .deb in $work/out"
deb=${debs[0]}
echo "$(basename "$deb"): $(stat -c %s "$deb") bytes"

step "dpkg-deb -I"
info=$(dpkg-deb -I "$deb")
echo "$info" | sed -n '/Package:/,$p'
for want in "Package: tailtrack" "Version: 0.1.0-1" "Section: admin" "Priority: optional"; do
  grep -qF "$want" <<<"$info" || fail "control has no \"$want\""
done
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libuv1 libcurl4 libre2 libyaml-cpp libdeflate0 passwd procps; do
  grep -q "$lib" <<<"$depends" || fail "Depends has no $lib: $depends"
done
[[ $(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles) == "/etc/tailtrack/tailtrack.yaml" ]] ||
  fail "conffiles is not /etc/tailtrack/tailtrack.yaml"
control_files=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
for script in postinst prerm postrm; do
  grep -qx "./$script" <<<"$control_files" || fail "no $script"
done

step "dpkg-deb -c"
contents=$(dpkg-deb -c "$deb")
for want in "-rwxr-xr-x root/root .* ./usr/bin/tailtrack$" \
            "-rw-r--r-- root/root .* ./etc/tailtrack/tailtrack.yaml$" \
            "-rw-r--r-- root/root .* ./lib/systemd/system/tailtrack.service$" \
            "-rw-r--r-- root/root .* ./usr/lib/sysusers.d/tailtrack.conf$" \
            "-rw-r--r-- root/root .* ./usr/share/man/man1/tailtrack.1.gz$" \
            "-rw-r--r-- root/root .* ./usr/share/doc/tailtrack/copyright$" \
            "-rw-r--r-- root/root .* ./usr/share/doc/tailtrack/changelog.Debian.gz$" \
            "-rw-r--r-- root/root .* ./usr/share/doc/tailtrack/operations.md$" \
            "drwxr-xr-x root/root .* ./var/lib/tailtrack/$"; do
  grep -qE -- "$want" <<<"$contents" || { echo "$contents"; fail "contents: nothing matches $want"; }
done
dpkg-deb -x "$deb" "$work/x"
unit="$work/x/lib/systemd/system/tailtrack.service"
grep -qx "ExecStart=/usr/bin/tailtrack run -c /etc/tailtrack/tailtrack.yaml" "$unit" ||
  fail "the packaged unit does not run /usr/bin/tailtrack on /etc/tailtrack/tailtrack.yaml"
zcat "$work/x/usr/share/man/man1/tailtrack.1.gz" | grep -q '^\.TH TAILTRACK 1' || fail "the man page has no .TH"
if readelf -S "$work/x/usr/bin/tailtrack" | grep -q '\.debug_info'; then fail "/usr/bin/tailtrack is not stripped"; fi

step "lintian"
# --fail-on: any error or warning fails; info and pedantic tags are printed.
lintian --fail-on error,warning --display-info "$deb" | tee "$work/lintian.log" || {
  fail "lintian reports the tags above (fix them, or override and explain them in docs/operations.md)"
}

step "dpkg --root (a throwaway root; maintainer scripts chrootless)"
root="$work/root"
mkdir -p "$root/etc" "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nadm:x:4:\n' >"$root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
printf 'root:*::\nadm:*::\n' >"$root/etc/gshadow"
chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
# The root has no libc6, libuv1, ... in its dpkg database: --force-depends.
dpkg_root=(dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null)
"${dpkg_root[@]}" -i "$deb" || fail "dpkg -i"
[[ -x $root/usr/bin/tailtrack ]] || fail "no /usr/bin/tailtrack after dpkg -i"
grep -q '^tailtrack:x:[0-9]*:[0-9]*:tailtrack log shipper:/var/lib/tailtrack:/usr/sbin/nologin$' "$root/etc/passwd" ||
  fail "postinst did not create the user tailtrack: $(cat "$root/etc/passwd")"
uid=$(awk -F: '$1 == "tailtrack" { print $3 }' "$root/etc/passwd")
[[ $(stat -c '%u %a' "$root/var/lib/tailtrack") == "$uid 750" ]] ||
  fail "/var/lib/tailtrack is $(stat -c '%u %a' "$root/var/lib/tailtrack"), not $uid 750"

step "tailtrack validate on the installed configuration"
mkdir -p "$work/credentials"
echo "package-test-key" >"$work/credentials/write_key"
out=$(CREDENTIALS_DIRECTORY="$work/credentials" "$root/usr/bin/tailtrack" validate -c "$root/etc/tailtrack/tailtrack.yaml")
[[ $out == "ok" ]] || fail "validate printed: $out"
# Without the credential it reads /etc/tailtrack/write_key: missing here, one line and 78.
if [[ ! -e /etc/tailtrack/write_key ]]; then
  set +e
  err=$(env -u CREDENTIALS_DIRECTORY "$root/usr/bin/tailtrack" validate -c "$root/etc/tailtrack/tailtrack.yaml" 2>&1)
  status=$?
  set -e
  [[ $status -eq 78 ]] || fail "validate without a key exited $status: $err"
  [[ $(wc -l <<<"$err") -eq 1 && $err == *"cannot read collector.write_key_file \"/etc/tailtrack/write_key\""* ]] ||
    fail "validate without a key said: $err"
fi

step "systemd-analyze verify and security on the installed unit"
# The root needs the units the service depends on by default, and /bin/kill
# for ExecReload; the host's are copied in.
mkdir -p "$root/bin"
cp -n /lib/systemd/system/*.target "$root/lib/systemd/system/" 2>/dev/null || true
cp /bin/kill "$root/bin/kill" || fail "no /bin/kill here (procps)"
verify=$(systemd-analyze verify --man=no --root="$root" tailtrack.service 2>&1) || fail "systemd-analyze verify: $verify"
[[ -z $verify ]] || fail "systemd-analyze verify says: $verify"
security=$(systemd-analyze security --offline=true --root="$root" tailtrack.service 2>&1 | tail -1)
echo "$security"
score=$(grep -oE 'exposure level for tailtrack.service: [0-9.]+' <<<"$security" | grep -oE '[0-9.]+$')
# docs/operations.md records the score; a change of the unit that raises it must say why there.
recorded=$(grep -oE 'exposure level \*\*[0-9.]+\*\*' "$src/docs/operations.md" | grep -oE '[0-9.]+')
[[ -n $score && $score == "$recorded" ]] || fail "exposure $score, docs/operations.md records ${recorded:-nothing}"

step "cmake --install (from source), prefix /usr/local, into a DESTDIR"
dest="$work/from-source"
DESTDIR="$dest" cmake --install "$build" --prefix /usr/local >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
for want in usr/local/bin/tailtrack usr/local/etc/tailtrack/tailtrack.yaml usr/local/lib/systemd/system/tailtrack.service \
            usr/local/lib/sysusers.d/tailtrack.conf usr/local/share/man/man1/tailtrack.1.gz usr/local/share/doc/tailtrack/README.md; do
  [[ -f $dest/$want ]] || fail "cmake --install put no $want"
done
grep -qx "ExecStart=/usr/local/bin/tailtrack run -c /usr/local/etc/tailtrack/tailtrack.yaml" \
  "$dest/usr/local/lib/systemd/system/tailtrack.service" || fail "the unit installed under /usr/local names other paths"
mkdir -p "$dest/lib/systemd/system" "$dest/bin"
cp /lib/systemd/system/*.target "$dest/lib/systemd/system/" && cp /bin/kill "$dest/bin/kill"
verify=$(systemd-analyze verify --man=no --root="$dest" tailtrack.service 2>&1) || fail "systemd-analyze verify (/usr/local): $verify"
[[ -z $verify ]] || fail "systemd-analyze verify (/usr/local) says: $verify"
# An operator's configuration is kept by a second install.
echo "# mine" >>"$dest/usr/local/etc/tailtrack/tailtrack.yaml"
DESTDIR="$dest" cmake --install "$build" --prefix /usr/local >/dev/null
tail -1 "$dest/usr/local/etc/tailtrack/tailtrack.yaml" | grep -qx "# mine" || fail "cmake --install overwrote the configuration"

step "dpkg -r, then -P"
echo "something the agent wrote" >"$root/var/lib/tailtrack/checkpoints"
"${dpkg_root[@]}" -r tailtrack || fail "dpkg -r"
[[ ! -e $root/usr/bin/tailtrack ]] || fail "/usr/bin/tailtrack is still there after dpkg -r"
[[ -f $root/etc/tailtrack/tailtrack.yaml ]] || fail "dpkg -r removed the conffile"
[[ -f $root/var/lib/tailtrack/checkpoints ]] || fail "dpkg -r removed the state"
"${dpkg_root[@]}" -P tailtrack || fail "dpkg -P"
[[ ! -e $root/etc/tailtrack/tailtrack.yaml ]] || fail "the conffile is still there after purge"
[[ ! -e $root/var/lib/tailtrack ]] || fail "/var/lib/tailtrack is still there after purge"
! grep -q '^tailtrack:' "$root/etc/passwd" || fail "the user tailtrack is still there after purge"
! grep -q '^tailtrack:' "$root/etc/group" || fail "the group tailtrack is still there after purge"
grep -q '^root:' "$root/etc/passwd" || fail "purge damaged the root's /etc/passwd"

echo "package test: all checks passed"
