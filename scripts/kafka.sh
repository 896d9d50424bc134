#!/usr/bin/env bash
# A single-node Apache Kafka 3.9 broker (KRaft, broker+controller in one JVM) from Maven Central jars,
# for tests, CI and developers. No Docker, no tarball: test/kafka/pom.xml lists the jars.
#
#   scripts/kafka.sh install            copy the jars into test/kafka/target/kafka-libs (once; fast after)
#   scripts/kafka.sh start              fresh state dir, free ports, format, start, wait until it serves
#   scripts/kafka.sh restart [--kill]   stop (SIGTERM, or SIGKILL with --kill) and start again, same ports and data
#   scripts/kafka.sh stop               SIGTERM (SIGKILL after 15 s), then remove the state dir
#   scripts/kafka.sh status             exit 0 and print the bootstrap address while it serves
#
# State lives in $KAFKA_STATE_DIR (default .kafka/): `bootstrap` holds host:port for clients
# (e.g. KAFKA_BROKERS=$(cat .kafka/bootstrap)), `kafka.out` the broker log, `data/` the log dirs.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
POM="$ROOT/test/kafka/pom.xml"
LIBS="$ROOT/test/kafka/target/kafka-libs"
STATE="${KAFKA_STATE_DIR:-$ROOT/.kafka}"
READY_TIMEOUT_S="${KAFKA_READY_TIMEOUT_S:-90}"

say() { echo "kafka: $*" >&2; }
die() { say "$*"; exit 1; }

# --- install -----------------------------------------------------------------------------------
# The stamp holds the pom's checksum: a changed pom (another version) copies the jars again.
install() {
  local sum stamp="$LIBS/.installed"
  sum="$(sha256sum "$POM" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
    say "jars present ($(jar_count) in ${LIBS#"$ROOT"/})"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found: install Maven and OpenJDK 17 (apt-get install maven openjdk-17-jre-headless)"
  local t0=$SECONDS
  rm -rf "$LIBS"
  mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies || die "mvn could not resolve the Kafka jars (see above)"
  echo "$sum" > "$stamp"
  say "installed $(jar_count) jars in $((SECONDS - t0)) s"
}

jar_count() { find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l; }

# --- helpers -----------------------------------------------------------------------------------
pid_alive() { [[ -f "$STATE/kafka.pid" ]] && kill -0 "$(cat "$STATE/kafka.pid")" 2>/dev/null; }
port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
broker_port() { cut -d' ' -f1 "$STATE/ports"; }

# Two free loopback ports from the OS. Kafka must get real numbers, not 0: advertised.listeners and
# controller.quorum.voters need them before the sockets open.
free_ports() {
  node -e '
    const net = require("node:net");
    const one = () => new Promise((ok) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); }); });
    (async () => { const a = await one(); let b; do b = await one(); while (b === a); console.log(a, b); })();'
}

write_config() {
  local p="$1" c="$2"
  cat > "$STATE/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${c}
listeners=PLAINTEXT://127.0.0.1:${p},CONTROLLER://127.0.0.1:${c}
advertised.listeners=PLAINTEXT://127.0.0.1:${p}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${STATE}/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=true
delete.topic.enable=true
# one partition for the internal topics and no initial rebalance delay: the first group comes up fast
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
# after a SIGKILL the restarted broker's registration is refused until the old session expires (9 s default)
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=1000
num.network.threads=2
num.io.threads=2
log.cleaner.dedupe.buffer.size=2097152
EOF
  cat > "$STATE/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
EOF
  cat > "$STATE/tools-log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
EOF
}

format_storage() {
  # Cluster id: 16 random bytes, base64url without padding (Uuid.toString()); never starting with '-'.
  local cid
  cid="$(node -e 'const c=require("node:crypto");let s;do s=c.randomBytes(16).toString("base64url");while(s.startsWith("-"));console.log(s)')"
  java -Xmx256m -Dlog4j.configuration="file:$STATE/tools-log4j.properties" -cp "$LIBS/*" \
    kafka.tools.StorageTool format -t "$cid" -c "$STATE/server.properties" > "$STATE/format.out" 2>&1 \
    || { cat "$STATE/format.out" >&2; die "storage format failed"; }
}

# Starts the JVM on the existing config and data, waits until the broker port accepts connections
# (3.9 opens it only once the broker is unfenced and serving), and writes the bootstrap file.
launch() {
  local p t0=$SECONDS
  p="$(broker_port)"
  java -Xms128m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$STATE/log4j.properties" -cp "$LIBS/*" kafka.Kafka "$STATE/server.properties" \
    >> "$STATE/kafka.out" 2>&1 < /dev/null &
  echo $! > "$STATE/kafka.pid"
  until port_answers "$p"; do
    pid_alive || { tail -n 40 "$STATE/kafka.out" >&2; die "broker exited during start (log: $STATE/kafka.out)"; }
    (( SECONDS - t0 < READY_TIMEOUT_S )) || { tail -n 40 "$STATE/kafka.out" >&2; die "broker not serving after ${READY_TIMEOUT_S} s"; }
    sleep 0.2
  done
  echo "127.0.0.1:$p" > "$STATE/bootstrap"
  say "serving on 127.0.0.1:$p (pid $(cat "$STATE/kafka.pid"), ready in $((SECONDS - t0)) s, state ${STATE})"
}

# Stops the JVM: SIGTERM runs Kafka's shutdown hook (up to 15 s), SIGKILL is a crash.
halt() {
  local sig="${1:-TERM}" pid
  pid_alive || return 0
  pid="$(cat "$STATE/kafka.pid")"
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then say "pid $pid ignored SIG$sig for 15 s; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$STATE/kafka.pid" "$STATE/bootstrap"
}

# --- commands ----------------------------------------------------------------------------------
start() {
  if pid_alive && [[ -f "$STATE/bootstrap" ]]; then cat "$STATE/bootstrap"; return 0; fi
  install
  command -v java >/dev/null || die "java not found: install OpenJDK 17"
  rm -rf "$STATE" && mkdir -p "$STATE"
  local ports
  ports="$(free_ports)"
  echo "$ports" > "$STATE/ports"
  # shellcheck disable=SC2086
  write_config $ports
  format_storage
  launch
  cat "$STATE/bootstrap"
}

restart() {
  [[ -f "$STATE/ports" ]] || die "no broker state in $STATE: run start first"
  if [[ "${1:-}" == "--kill" ]]; then halt KILL; else halt TERM; fi
  launch
  cat "$STATE/bootstrap"
}

stop() {
  halt TERM
  rm -rf "$STATE"
  say "stopped"
}

status() {
  if pid_alive && [[ -f "$STATE/bootstrap" ]] && port_answers "$(broker_port)"; then
    cat "$STATE/bootstrap"
  else
    say "not running"
    return 1
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  restart) shift; restart "$@" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|restart [--kill]|stop|status" >&2; exit 2 ;;
esac
