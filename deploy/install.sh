#!/bin/sh
# Install cardid as a service, or upgrade it in place: the README's "Deployment", as one
# script. Run it as root from a checkout of the version to install:
#
#     sudo deploy/install.sh
#
# It makes the service account, a virtual environment with cardid in it, the data dir
# (0700), the settings file (once; edit it afterwards), the systemd units; then it brings
# the database to this version (`cardid init`) and (re)starts the services. Running it
# again with a newer checkout is the upgrade. Every place can be changed:
PREFIX=${PREFIX:-/opt/cardid}            # the virtual environment goes to $PREFIX/.venv
DATA=${DATA:-/var/lib/cardid}            # CARDID_DATA_DIR
ETC=${ETC:-/etc/cardid}                  # cardid.env: the deployment settings
UNITS=${UNITS:-/etc/systemd/system}
SERVICE_USER=${SERVICE_USER:-cardid}
SYSTEMCTL=${SYSTEMCTL:-systemctl}        # SYSTEMCTL=true: install only, start nothing
PYTHON=${PYTHON:-python3}
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
say() { printf 'install: %s\n' "$*" >&2; }

if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    say "creating the service account $SERVICE_USER"
    useradd --system --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi
GROUP=$(id -gn "$SERVICE_USER")

say "installing cardid from $SRC into $PREFIX/.venv"
mkdir -p "$PREFIX"
[ -x "$PREFIX/.venv/bin/python" ] || "$PYTHON" -m venv "$PREFIX/.venv"
"$PREFIX/.venv/bin/pip" install --quiet --upgrade "$SRC"
"$PREFIX/.venv/bin/python" -m cardid.locales --force >/dev/null  # the translations
cp "$SRC/README.md" "$PREFIX/README.md"

install -d -m 0700 -o "$SERVICE_USER" -g "$GROUP" "$DATA"
install -d -m 0750 -g "$GROUP" "$ETC"
FIRST=
if [ ! -e "$ETC/cardid.env" ]; then
    sed "s|^CARDID_DATA_DIR=.*|CARDID_DATA_DIR=$DATA|" "$SRC/deploy/cardid.env" >"$ETC/cardid.env"
    chgrp "$GROUP" "$ETC/cardid.env"
    chmod 0640 "$ETC/cardid.env"
    FIRST=1
fi

# `$PREFIX/bin/cardid`: cardid with the deployment's settings, for the administrator
# (run it as the service account: sudo -u cardid /opt/cardid/bin/cardid check).
mkdir -p "$PREFIX/bin"
cat >"$PREFIX/bin/cardid" <<WRAPPER
#!/bin/sh
set -a
. "$ETC/cardid.env"
set +a
exec "$PREFIX/.venv/bin/cardid" "\$@"
WRAPPER
chmod 0755 "$PREFIX/bin/cardid"

for unit in cardid-web.service cardid-worker.service; do
    sed -e "s|/opt/cardid|$PREFIX|g" -e "s|/var/lib/cardid|$DATA|g" \
        -e "s|/etc/cardid|$ETC|g" -e "s|^User=.*|User=$SERVICE_USER|" \
        -e "s|^Group=.*|Group=$GROUP|" "$SRC/deploy/$unit" >"$UNITS/$unit"
done

if [ -n "$FIRST" ]; then
    say "wrote $ETC/cardid.env: set the database and the host name in it, then run this again"
    exit 0
fi

say "bringing the database to this version"
# The settings file as the services read it (systemd's EnvironmentFile: KEY=VALUE lines).
cd "$DATA"
if [ "$(id -u)" = "$(id -u "$SERVICE_USER")" ]; then
    "$PREFIX/bin/cardid" init
else
    runuser -u "$SERVICE_USER" -- "$PREFIX/bin/cardid" init
fi

"$SYSTEMCTL" daemon-reload
"$SYSTEMCTL" enable cardid-web.service cardid-worker.service
"$SYSTEMCTL" restart cardid-web.service cardid-worker.service
say "done: cardid-web and cardid-worker (re)started; check them with"
say "  sudo -u $SERVICE_USER $PREFIX/bin/cardid check"
