#!/usr/bin/env node
// Checks tailtrack's Kubernetes manifests offline, for
// tests/kubernetes_manifests_test.cc:
//   1. every object validates against the Kubernetes API schemas
//      (npm's kubernetes-models: types, required fields, enums, formats);
//   2. every tailtrack container agrees with the configuration it carries:
//      probes and ports with admin.listen, state and spool on a writable
//      volume, sources under mounted volumes, the write key file under the
//      Secret's mount and readable, the grace period covering the drain, and
//      the security settings the examples promise.
// For each tailtrack container it writes OUT/NAME/tailtrack.yaml (the
// ConfigMap's configuration, its mount paths moved under OUT/NAME/root, where
// the mounted directories and a stand-in key file are made) and OUT/NAME/env
// (the container's environment, NAME=value lines), so that the test can run
// the real `tailtrack validate` on it.
//
// Usage: node check-manifests.js --dockerfile FILE --out DIR MANIFEST...
// Prints one line per problem; exits 1 if there is any, 0 otherwise.
"use strict";
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const problems = [];
function problem(where, message) { problems.push(`${where}: ${message}`); }

// --- Arguments ---
const args = process.argv.slice(2);
let dockerfile = null, outDir = null;
const manifests = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--dockerfile") dockerfile = args[++i];
  else if (args[i] === "--out") outDir = args[++i];
  else manifests.push(args[i]);
}
if (!dockerfile || !outDir || manifests.length === 0) {
  console.error("usage: check-manifests.js --dockerfile FILE --out DIR MANIFEST...");
  process.exit(2);
}

// --- Units ---
function parseDuration(text, fallback) {
  if (text === undefined || text === null) return fallback;
  let seconds = 0;
  const re = /([0-9.]+)(ms|s|m|h)/g;
  let m, consumed = "";
  while ((m = re.exec(String(text))) !== null) {
    const n = Number(m[1]);
    seconds += m[2] === "ms" ? n / 1000 : m[2] === "s" ? n : m[2] === "m" ? n * 60 : n * 3600;
    consumed += m[0];
  }
  if (consumed !== String(text)) throw new Error(`not a duration: ${text}`);
  return seconds;
}
function parseSize(text, fallback) {  // tailtrack's sizes: 500KiB, 1GiB, 10MB, 123B
  if (text === undefined || text === null) return fallback;
  const m = /^([0-9.]+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/.exec(String(text));
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = { B: 1, KB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 }[m[2] || "B"];
  return Number(m[1]) * unit;
}
function parseQuantity(text) {  // Kubernetes quantities: 512Mi, 1Gi, 500m, 2
  const m = /^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(text));
  if (!m) throw new Error(`not a quantity: ${text}`);
  const unit = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2]] || 1;
  return Number(m[1]) * unit;
}

// ${VAR}, ${VAR:-default}, ${VAR:?message} and $$, as agent/config/env.cc expands them.
function expand(text, env, where) {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}/g, (all, name, op, arg) => {
    if (all === "$$") return "$";
    const value = env[name];
    if (value !== undefined && value !== "") return value;
    if (op === ":-") return arg;
    if (op === ":?") { problem(where, `\${${name}} is not set in the container's env: ${arg}`); return ""; }
    if (value === undefined) problem(where, `\${${name}} is not set in the container's env`);
    return "";
  });
}

// --- The image: where its entrypoint reads the configuration ---
function entrypointConfigPath() {
  const text = fs.readFileSync(dockerfile, "utf8");
  const lines = text.split("\n").filter((l) => /^ENTRYPOINT\s/.test(l));
  if (lines.length === 0) { problem(dockerfile, "no ENTRYPOINT"); return null; }
  const argv = JSON.parse(lines[lines.length - 1].replace(/^ENTRYPOINT\s+/, ""));
  const i = argv.indexOf("-c");
  return i >= 0 ? argv[i + 1] : null;
}
const imageConfigPath = entrypointConfigPath();

// --- 1. Schemas ---
const objects = [];  // {file, doc}
for (const file of manifests) {
  const text = fs.readFileSync(file, "utf8");
  // YAML 1.1 as kubectl reads it (0440 is octal there).
  for (const d of YAML.parseAllDocuments(text, { version: "1.1" })) {
    if (d.errors.length) { problem(file, d.errors[0].message); continue; }
    const doc = d.toJS();
    if (doc === null) continue;
    objects.push({ file, doc, text });
    const where = `${file}: ${doc.kind}/${doc.metadata && doc.metadata.name}`;
    const group = doc.apiVersion.includes("/") ? doc.apiVersion : `v1`;
    let Model;
    try {
      Model = require(`kubernetes-models/${group}/${doc.kind}`)[doc.kind];
    } catch (e) {
      problem(where, `unknown apiVersion/kind ${doc.apiVersion} ${doc.kind}`);
      continue;
    }
    try {
      new Model(doc).validate();
    } catch (e) {
      problem(where, `schema: ${e.message}`);
    }
  }
}

// --- 2. Each tailtrack container against its configuration ---
function find(kind, name, namespace) {
  return objects.map((o) => o.doc).find((d) => d.kind === kind && d.metadata.name === name &&
    (d.metadata.namespace || "default") === (namespace || "default"));
}
function under(p, dir) { return p === dir || p.startsWith(dir.endsWith("/") ? dir : dir + "/"); }
function mountOf(container, p) {  // the deepest mount that holds path p
  let best = null;
  for (const m of container.volumeMounts || []) {
    if (under(p, m.mountPath) && (!best || m.mountPath.length > best.mountPath.length)) best = m;
  }
  return best;
}
function globDir(pattern) {  // the directory a glob reads: up to its first wildcard
  const i = pattern.search(/[*?[]/);
  return i < 0 ? path.dirname(pattern) : path.dirname(pattern.slice(0, i) + "x");
}

for (const { file, doc, text } of objects) {
  const podSpec = doc.kind === "Pod" ? doc.spec : doc.spec && doc.spec.template && doc.spec.template.spec;
  if (!podSpec) continue;
  const namespace = doc.metadata.namespace;
  const volumes = Object.fromEntries((podSpec.volumes || []).map((v) => [v.name, v]));
  const podSec = podSpec.securityContext || {};
  const candidates = [
    ...(podSpec.initContainers || []).map((c) => ({ c, init: true })),
    ...(podSpec.containers || []).map((c) => ({ c, init: false })),
  ];
  for (const { c, init } of candidates.filter(({ c }) => /tailtrack/.test(c.image || ""))) {
    const where = `${file}: ${doc.kind}/${doc.metadata.name} container ${c.name}`;
    const sec = c.securityContext || {};

    // Where it runs in the pod.
    if (doc.kind === "Deployment" || doc.kind === "StatefulSet") {
      if (!init || c.restartPolicy !== "Always") problem(where, "a sidecar must be an initContainers entry with restartPolicy: Always");
    }
    if (init && c.restartPolicy !== "Always") problem(where, "an init container without restartPolicy: Always would block the pod");

    // Security.
    const uid = sec.runAsUser !== undefined ? sec.runAsUser : podSec.runAsUser;
    const nonRoot = sec.runAsNonRoot !== undefined ? sec.runAsNonRoot : podSec.runAsNonRoot;
    if (doc.kind !== "DaemonSet" && (nonRoot !== true || uid === 0)) problem(where, "must run as non-root (runAsNonRoot: true, a non-zero runAsUser)");
    if (sec.readOnlyRootFilesystem !== true) problem(where, "readOnlyRootFilesystem must be true");
    if (sec.allowPrivilegeEscalation !== false) problem(where, "allowPrivilegeEscalation must be false");
    if (sec.privileged) problem(where, "must not be privileged");
    const caps = sec.capabilities || {};
    if (!(caps.drop || []).includes("ALL")) problem(where, "capabilities must drop ALL");
    if ((caps.add || []).length) problem(where, `adds capabilities ${caps.add}`);
    const seccomp = (sec.seccompProfile || podSec.seccompProfile || {}).type;
    if (seccomp !== "RuntimeDefault") problem(where, "seccompProfile must be RuntimeDefault");

    // Resources: sized from the measured footprint (~19 MiB peak RSS).
    const res = c.resources || {};
    for (const kind of ["requests", "limits"]) {
      for (const r of ["cpu", "memory"]) {
        if (!res[kind] || res[kind][r] === undefined) problem(where, `resources.${kind}.${r} is missing`);
      }
    }
    if (res.limits && res.limits.memory && parseQuantity(res.limits.memory) < 64 * 1024 ** 2) {
      problem(where, `limits.memory ${res.limits.memory} is below 64Mi (the agent peaks near 20 MiB, more with big batches)`);
    }

    // The configuration: the entrypoint's -c path (or the container's own), from a ConfigMap.
    const argv = [...(c.command || []), ...(c.args || [])];
    const configPath = argv.includes("-c") ? argv[argv.indexOf("-c") + 1] : imageConfigPath;
    const configMount = configPath && mountOf(c, configPath);
    const configVolume = configMount && volumes[configMount.name];
    if (!configVolume || !configVolume.configMap) { problem(where, `${configPath} is not on a ConfigMap volume`); continue; }
    if (configMount.subPath) problem(where, "the ConfigMap is mounted with subPath: a changed ConfigMap never reaches the file");
    const key = path.relative(configMount.mountPath, configPath);
    const configMap = find("ConfigMap", configVolume.configMap.name, namespace);
    if (!configMap || !configMap.data || typeof configMap.data[key] !== "string") {
      problem(where, `ConfigMap ${configVolume.configMap.name} has no key ${key}`);
      continue;
    }
    const env = {};
    for (const e of c.env || []) env[e.name] = e.value !== undefined ? e.value : "from-valueFrom";
    const configText = expand(configMap.data[key], env, `${where} ConfigMap ${configMap.metadata.name}`);
    let config;
    try {
      config = YAML.parse(configText);
    } catch (e) {
      problem(where, `the ConfigMap's ${key} is not YAML: ${e.message}`);
      continue;
    }
    const collector = config.collector || {};
    const stateDir = config.state_dir || "/var/lib/tailtrack";
    const resolve = (p, fallback) => (p || fallback).replace(/^\{state_dir\}/, stateDir);

    // The admin port: probes and containerPort agree with admin.listen, which the kubelet must reach.
    const listen = config.admin && config.admin.listen;
    if (!listen) {
      problem(where, "admin.listen is not set: the probes have nothing to ask");
    } else {
      const colon = String(listen).lastIndexOf(":");
      const host = colon < 0 ? "127.0.0.1" : String(listen).slice(0, colon);
      const port = Number(colon < 0 ? listen : String(listen).slice(colon + 1));
      if (/^(127\.|localhost$|\[::1\]$)/.test(host)) {
        problem(where, `admin.listen ${listen} is loopback: the kubelet's probes come to the pod's IP`);
      }
      const named = Object.fromEntries((c.ports || []).map((p) => [p.name, p.containerPort]));
      if (!(c.ports || []).some((p) => p.containerPort === port)) problem(where, `no containerPort ${port} (admin.listen ${listen})`);
      const want = { startupProbe: ["/healthz", "/readyz"], livenessProbe: ["/healthz"], readinessProbe: ["/readyz", "/healthz"] };
      for (const [probeName, paths] of Object.entries(want)) {
        const probe = c[probeName];
        if (!probe || !probe.httpGet) { problem(where, `${probeName} must be an httpGet on the admin port`); continue; }
        const p = typeof probe.httpGet.port === "string" ? named[probe.httpGet.port] : probe.httpGet.port;
        if (p !== port) problem(where, `${probeName} port ${probe.httpGet.port} is not admin.listen's ${port}`);
        if (!paths.includes(probe.httpGet.path)) problem(where, `${probeName} path ${probe.httpGet.path} is not one of ${paths}`);
      }
    }

    // State, spool and dead letters on a writable volume that outlives the container.
    const writable = (p, what) => {
      const m = mountOf(c, p);
      const v = m && volumes[m.name];
      if (!m || !v) return problem(where, `${what} ${p} is on the container's read-only root file system, not on a volume`);
      if (m.readOnly) problem(where, `${what} ${p} is on a read-only mount (${m.name})`);
      if (!(v.emptyDir || v.hostPath || v.persistentVolumeClaim || v.ephemeral)) problem(where, `${what} ${p} is on volume ${m.name}, which is not writable storage`);
      return v;
    };
    const stateVolume = writable(stateDir, "state_dir");
    writable(resolve(config.spool && config.spool.dir, "{state_dir}/spool"), "spool.dir");
    writable(resolve(config.dead_letter && config.dead_letter.path, "{state_dir}/dead-letter.jsonl"), "dead_letter.path");
    if (stateVolume && stateVolume.emptyDir && stateVolume.emptyDir.sizeLimit) {
      const need = parseSize(config.spool && config.spool.max_bytes, 1024 ** 3) +
                   2 * parseSize(config.dead_letter && config.dead_letter.max_bytes, 64 * 1024 ** 2);
      if (parseQuantity(stateVolume.emptyDir.sizeLimit) < need) {
        problem(where, `the state volume's sizeLimit ${stateVolume.emptyDir.sizeLimit} is below spool.max_bytes + 2 × dead_letter.max_bytes (${need} bytes): the pod would be evicted before the spool is full`);
      }
    }
    if (stateVolume && stateVolume.hostPath && stateVolume.hostPath.type !== "DirectoryOrCreate") {
      problem(where, "the state hostPath should be type DirectoryOrCreate");
    }

    // A host's directories at their own paths: the kubelet's links are absolute host paths.
    for (const m of c.volumeMounts || []) {
      const v = volumes[m.name];
      if (v && v.hostPath && v.hostPath.path !== m.mountPath) {
        problem(where, `hostPath ${v.hostPath.path} mounted at ${m.mountPath}: absolute symlinks would not resolve`);
      }
    }

    // Sources: under mounted volumes; sockets on writable ones.
    for (const s of config.sources || []) {
      if ((s.type || "file") === "file") {
        for (const pattern of s.paths || []) {
          const dir = globDir(pattern);
          const m = mountOf(c, dir);
          if (!m) { problem(where, `source ${s.name}: ${pattern} is not under a mounted volume`); continue; }
          if (doc.kind !== "DaemonSet") {
            // The sidecar: an app container writes into the same volume.
            const writer = (podSpec.containers || []).find((a) => a !== c && (a.volumeMounts || []).some((am) => am.name === m.name && !am.readOnly));
            if (!writer) problem(where, `source ${s.name}: no app container writes volume ${m.name}`);
          }
          if (s.format === "cri" && under(dir, "/var/log/containers") && !mountOf(c, "/var/log/pods")) {
            problem(where, `source ${s.name}: /var/log/containers links into /var/log/pods, which is not mounted`);
          }
        }
      } else if (s.type === "unix") {
        const m = mountOf(c, path.dirname(s.path));
        if (!m || m.readOnly) problem(where, `source ${s.name}: the socket ${s.path} is not on a writable volume`);
      }
    }

    // The write key: a file under the Secret's mount, readable by the agent.
    const keyFile = collector.write_key_file;
    let secretMount = null;
    if (!keyFile) {
      problem(where, "collector.write_key_file is not set: the key should come from a Secret mounted as a file");
    } else {
      secretMount = mountOf(c, keyFile);
      const v = secretMount && volumes[secretMount.name];
      if (!v || !v.secret) {
        problem(where, `write_key_file ${keyFile} is not under a Secret's mount`);
      } else {
        if (secretMount.subPath) problem(where, "the Secret is mounted with subPath: a changed Secret never reaches the file");
        const secretKey = path.relative(secretMount.mountPath, keyFile);
        const items = v.secret.items;
        if (items && !items.some((it) => it.path === secretKey)) problem(where, `the Secret volume's items do not give ${secretKey}`);
        const secretKeyName = items ? items.find((it) => it.path === secretKey).key : secretKey;
        // The manifest tells how to create the Secret: the name and key must be these.
        if (!text.includes(`create secret generic ${v.secret.secretName} --from-literal=${secretKeyName}=`)) {
          problem(where, `the manifest's instructions do not create Secret ${v.secret.secretName} with key ${secretKeyName}`);
        }
        const mode = v.secret.defaultMode !== undefined ? v.secret.defaultMode : 0o644;
        const readable = uid === 0 || (mode & 0o004) || ((mode & 0o040) && podSec.fsGroup !== undefined);
        if (!readable) problem(where, `the Secret's mode ${mode.toString(8)} lets user ${uid} not read it (give the pod an fsGroup)`);
      }
    }

    // The grace period covers the drain.
    const grace = podSpec.terminationGracePeriodSeconds !== undefined ? podSpec.terminationGracePeriodSeconds : 30;
    const drain = parseDuration(collector.drain_timeout, 10);
    if (grace < drain + 5) problem(where, `terminationGracePeriodSeconds ${grace} does not cover drain_timeout ${drain}s plus 5 s to write checkpoints`);

    // DaemonSet specifics.
    if (doc.kind === "DaemonSet") {
      if (!(podSpec.tolerations || []).length) problem(where, "a DaemonSet with no tolerations misses tainted nodes");
      if (!podSpec.serviceAccountName || !find("ServiceAccount", podSpec.serviceAccountName, namespace)) problem(where, "its ServiceAccount is not in the manifest");
      const ru = doc.spec.updateStrategy && doc.spec.updateStrategy.rollingUpdate;
      if (stateVolume && stateVolume.hostPath && !(ru && (ru.maxSurge === 0 || ru.maxSurge === "0"))) {
        problem(where, "maxSurge must be 0: two agents on one node would share one state_dir");
      }
    }

    // For `tailtrack validate`: the configuration with its mounts moved under OUT/NAME/root.
    const name = `${doc.kind.toLowerCase()}-${doc.metadata.name}-${c.name}`;
    const dir = path.join(outDir, name);
    const root = path.join(dir, "root");
    fs.mkdirSync(root, { recursive: true });
    const mounts = [...(c.volumeMounts || [])].sort((a, b) => b.mountPath.length - a.mountPath.length);
    const rebase = (s) => {
      for (const m of mounts) {
        const escaped = m.mountPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        s = s.replace(new RegExp(`(^|[\\s"'\\[,])(${escaped})(?=[/"'\\s\\],]|$)`, "gm"), `$1${root}$2`);
      }
      return s;
    };
    for (const m of mounts) fs.mkdirSync(path.join(root, m.mountPath), { recursive: true });
    if (keyFile && secretMount) fs.writeFileSync(path.join(root, keyFile), "stand-in-write-key\n");
    fs.writeFileSync(path.join(dir, "tailtrack.yaml"), rebase(configMap.data[key]));
    fs.writeFileSync(path.join(dir, "env"), Object.entries(env).map(([k, v]) => `${k}=${rebase(v)}\n`).join(""));
  }
}

for (const p of problems) console.log(p);
process.exit(problems.length ? 1 : 0);
