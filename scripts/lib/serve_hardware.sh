# Sourced by the sim_hardware_*.sh scripts: serve the simulator as hardware in the
# background (one canonical scene, green screen, seed 0) and wait until it answers.
#
#   serve_hardware TASK LOG
# sets $sock (the socket folder: the arm is ipc://$sock/arm.sock, the operator's view for
# the scripted operator ipc://$sock/eyes.sock) and $server (its pid), and stops the
# server and removes the folder on exit.
serve_hardware() {
  local task=$1 log=$2
  sock=$(mktemp -d /tmp/vshw.XXXX)
  uv run --frozen vitalskills bridge serve --driver "sim:$task" --hardware --green-screen \
      --seed 0 --bind "ipc://$sock/arm.sock" --operator-view "ipc://$sock/eyes.sock" > "$log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true; rm -rf "$sock"' EXIT
  until grep -qs "^serving " "$log"; do
    kill -0 $server 2>/dev/null || { tail -3 "$log" >&2; exit 1; }
    sleep 0.5
  done
}
