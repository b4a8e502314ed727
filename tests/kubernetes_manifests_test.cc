// packaging/kubernetes/*.yaml, checked offline: yamllint; every object
// against the Kubernetes API schemas and every tailtrack container against
// the configuration its ConfigMap carries (packaging/kubernetes/check, run
// with node and npm's kubernetes-models, which packaging/install-deps.sh
// installs); and the real binary's `validate` on each embedded configuration,
// with the container's environment and its mounts under a temporary root.
// Not checked here: that a cluster accepts them (admission, an unknown field,
// which the schemas let pass), or that the pods start.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "external_tool.h"
#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

const std::vector<std::string> kManifests = {"packaging/kubernetes/sidecar.yaml", "packaging/kubernetes/daemonset.yaml"};

std::string CheckNodeDir() {
  const char* dir = std::getenv("TAILTRACK_CHECK_NODE_DIR");
  return dir && *dir ? dir : "/var/cache/tailtrack-check";
}

std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// Runs check-manifests.js on `manifests`, extracting configurations into `out`.
// Skips (the caller returns) when node or the npm modules are not there.
class KubernetesManifests : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = FindProgram("node");
    if (node_.empty()) GTEST_SKIP() << "node is not installed (Debian's nodejs; packaging/install-deps.sh installs it)";
    const std::string modules = CheckNodeDir() + "/node_modules";
    if (!std::filesystem::exists(modules + "/kubernetes-models/package.json")) {
      GTEST_SKIP() << "npm's kubernetes-models is not in " << modules << ": run packaging/install-deps.sh";
    }
    if (ReadFile(CheckNodeDir() + "/package-lock.json") != ReadFile(SourcePath("packaging/kubernetes/check/package-lock.json"))) {
      GTEST_SKIP() << CheckNodeDir() << " holds other versions than packaging/kubernetes/check/package-lock.json: "
                   << "run packaging/install-deps.sh";
    }
  }

  ToolResult Check(const std::vector<std::string>& manifests, const std::string& out) {
    std::vector<std::string> argv = {node_, SourcePath("packaging/kubernetes/check/check-manifests.js"), "--dockerfile",
                                     SourcePath("packaging/container/Dockerfile"), "--out", out};
    argv.insert(argv.end(), manifests.begin(), manifests.end());
    return RunTool(argv, {"NODE_PATH=" + CheckNodeDir() + "/node_modules"});
  }

  // A copy of a manifest with `from` replaced by `to` (which must be there once).
  std::string Mutated(const TempDir& dir, const std::string& manifest, const std::string& from, const std::string& to) {
    std::string text = ReadFile(SourcePath(manifest));
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    EXPECT_EQ(text.find(from, at + 1), std::string::npos) << from << " is there twice";
    if (at != std::string::npos) text.replace(at, from.size(), to);
    const std::string path = dir / ("mutated-" + std::filesystem::path(manifest).filename().string());
    WriteFile(path, text);
    return path;
  }

  std::string node_;
};

TEST(KubernetesYaml, ManifestsAlertsAndTheImagesConfigPassYamllint) {
  const std::string yamllint = FindProgram("yamllint");
  if (yamllint.empty()) GTEST_SKIP() << "yamllint is not installed (packaging/install-deps.sh installs it)";
  std::vector<std::string> argv = {yamllint, "-s", "-c", SourcePath("packaging/yamllint.yml")};
  for (const auto& m : kManifests) argv.push_back(SourcePath(m));
  for (const std::string f : {"packaging/grafana/alerts.yml", "packaging/grafana/alerts_test.yml",
                              "packaging/container/tailtrack.yaml"}) {
    argv.push_back(SourcePath(f));
  }
  const ToolResult r = RunTool(argv);
  EXPECT_EQ(r.status, 0) << r.Describe();
}

TEST_F(KubernetesManifests, ValidateAgainstTheApiSchemasAndAgreeWithTheirConfiguration) {
  TempDir out;
  std::vector<std::string> manifests;
  for (const auto& m : kManifests) manifests.push_back(SourcePath(m));
  const ToolResult r = Check(manifests, out.path());
  ASSERT_EQ(r.status, 0) << r.Describe();
  EXPECT_EQ(r.out, "");

  // One configuration per tailtrack container: the sidecar's and the DaemonSet's.
  std::vector<std::string> extracted;
  for (const auto& entry : std::filesystem::directory_iterator(out.path())) extracted.push_back(entry.path());
  ASSERT_EQ(extracted.size(), 2u);
  const std::string yamllint = FindProgram("yamllint");
  for (const auto& dir : extracted) {
    SCOPED_TRACE(dir);
    std::vector<std::string> env;
    std::stringstream lines(ReadFile(dir + "/env"));
    for (std::string line; std::getline(lines, line);) env.push_back(line);
    EXPECT_FALSE(env.empty()) << "the container sets TAILTRACK_COLLECTOR_URL";
    // The real binary, with the pod's environment; unset what the test runner may carry.
    std::vector<std::string> argv = {"/usr/bin/env", "-u", "TAILTRACK_WRITE_KEY", "-u", "TAILTRACK_STATE_DIR"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.insert(argv.end(), {TAILTRACK_BINARY, "validate", "-c", dir + "/tailtrack.yaml"});
    const ToolResult v = RunTool(argv);
    EXPECT_EQ(v.status, 0) << v.Describe();
    EXPECT_EQ(v.out, "ok\n");
    if (!yamllint.empty()) {
      const ToolResult lint = RunTool({yamllint, "-s", "-c", SourcePath("packaging/yamllint.yml"), dir + "/tailtrack.yaml"});
      EXPECT_EQ(lint.status, 0) << lint.Describe();
    }
  }
}

// The real agent with a pod's configuration and environment, its volumes under
// a temporary root, the collector's URL pointed at a fake collector that wants
// the Secret's key: what the app writes into the shared volume arrives, and
// SIGTERM drains and exits 0. (The admin port is moved to a free loopback one,
// so that parallel tests never collide on 9464.)
class PodRun : public KubernetesManifests {
 protected:
  // Extracts the manifests' configurations into out_ and returns one's directory.
  std::string Extract(const std::string& name) {
    std::vector<std::string> manifests;
    for (const auto& m : kManifests) manifests.push_back(SourcePath(m));
    const ToolResult r = Check(manifests, out_.path());
    EXPECT_EQ(r.status, 0) << r.Describe();
    const std::string dir = out_ / name;
    const std::string config = dir + "/tailtrack.yaml";
    WriteFile(config, Replaced(ReadFile(config), "listen: 0.0.0.0:9464", "listen: 127.0.0.1:" + std::to_string(FreeLoopbackPort())));
    return dir;
  }
  std::unique_ptr<Child> Start(const std::string& dir, const std::string& collector_url) {
    std::vector<std::string> argv = {"/usr/bin/env", "-u", "TAILTRACK_WRITE_KEY", "-u", "TAILTRACK_STATE_DIR"};
    std::stringstream lines(ReadFile(dir + "/env"));
    for (std::string line; std::getline(lines, line);) argv.push_back(line);
    argv.push_back("TAILTRACK_COLLECTOR_URL=" + collector_url);  // after the pod's: it wins
    argv.insert(argv.end(), {TAILTRACK_BINARY, "run", "-c", dir + "/tailtrack.yaml"});
    return std::make_unique<Child>(argv);
  }
  TempDir out_;
};

TEST_F(PodRun, TheSidecarShipsWhatTheAppWritesIntoTheSharedVolume) {
  const std::string dir = Extract("deployment-shop-tailtrack");
  FakeCollector collector("stand-in-write-key");  // what the test put in the Secret's file
  const std::string logs = dir + "/root/var/log/shop";
  WriteFile(logs + "/shop.log", "2026-11-30T10:00:00Z INFO order completed order_id=o1 user_id=u1 total=9.50 currency=EUR\n");
  auto agent = Start(dir, collector.url());
  ASSERT_TRUE(collector.WaitForEvents(1, std::chrono::seconds(20))) << agent->err();
  AppendFile(logs + "/shop.log",
             "2026-11-30T10:00:01Z INFO user login user_id=u2 anon_id=a2 email=U2@Example.com plan=pro\n");
  ASSERT_TRUE(collector.WaitForEvents(2, std::chrono::seconds(20))) << agent->err();
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(std::chrono::seconds(30)), 0) << agent->err();
  const auto events = collector.accepted_event_list();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].find("\"event\":\"Order Completed\""), std::string::npos) << events[0];
  EXPECT_NE(events[1].find("\"email\":\"u2@example.com\""), std::string::npos) << events[1];
  EXPECT_TRUE(std::filesystem::exists(dir + "/root/var/lib/tailtrack/checkpoints")) << "state on the state volume";
}

TEST_F(PodRun, TheDaemonSetReadsCriLogsThroughTheKubeletsLinksAndLeavesOutKubeSystem) {
  const std::string dir = Extract("daemonset-tailtrack-tailtrack");
  FakeCollector collector("stand-in-write-key");
  const std::string root = dir + "/root";
  auto agent = Start(dir, collector.url());
  // start_at: end applies to files present at the first start; these come after it, as new pods do.
  ASSERT_TRUE(Eventually([&] { return agent->err().find("source containers: 0 files match") != std::string::npos; },
                         std::chrono::seconds(20)))
      << agent->err();
  const std::string pod = root + "/var/log/pods/shop_web-1_uid/web";
  const std::string system = root + "/var/log/pods/kube-system_dns-1_uid/dns";
  std::filesystem::create_directories(pod);
  std::filesystem::create_directories(system);
  const std::string signup = R"({"event":"Signed Up","user_id":"u1"})";
  WriteFile(pod + "/0.log", "2026-11-30T10:00:00.100000000Z stdout P " + signup.substr(0, 10) + "\n" +
                                "2026-11-30T10:00:00.100000000Z stderr F {\"event\":\"Ignored\",\"user_id\":\"e\"}\n" +
                                "2026-11-30T10:00:00.100000000Z stdout F " + signup.substr(10) + "\n");
  WriteFile(system + "/0.log", "2026-11-30T10:00:00.200000000Z stdout F {\"event\":\"System\",\"user_id\":\"s\"}\n");
  // The kubelet's links are absolute paths on the node: here, under the temporary root. The
  // kube-system one first: the pass that finds the shop's link finds it too, and what the agent
  // has read it sends before it exits.
  ASSERT_EQ(::symlink((system + "/0.log").c_str(), (root + "/var/log/containers/dns-1_kube-system_dns-def.log").c_str()), 0);
  ASSERT_EQ(::symlink((pod + "/0.log").c_str(), (root + "/var/log/containers/web-1_shop_web-abc.log").c_str()), 0);
  ASSERT_TRUE(collector.WaitForEvents(1, std::chrono::seconds(20))) << agent->err();
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(std::chrono::seconds(40)), 0) << agent->err();
  const auto events = collector.accepted_event_list();
  ASSERT_EQ(events.size(), 1u) << "kube-system excluded, stderr not matched";
  EXPECT_NE(events[0].find("\"event\":\"Signed Up\""), std::string::npos) << events[0];  // P and F pieces joined
  EXPECT_NE(events[0].find("\"timestamp\":\"2026-11-30T10:00:00.100Z\""), std::string::npos) << events[0];
}

// The checks can fail: each mistake below, made in a copy, is named.
TEST_F(KubernetesManifests, EachMistakeInACopyIsNamed) {
  struct Mistake {
    std::string manifest, from, to, expected;
  };
  const std::vector<Mistake> mistakes = {
      {kManifests[0], "listen: 0.0.0.0:9464", "listen: 127.0.0.1:9464", "is loopback: the kubelet's probes come to the pod's IP"},
      {kManifests[0], "listen: 0.0.0.0:9464", "listen: 0.0.0.0:9465", "no containerPort 9465"},
      {kManifests[0], "          livenessProbe:\n            httpGet:\n              path: /healthz\n              port: admin",
       "          livenessProbe:\n            httpGet:\n              path: /healthz\n              port: 8080",
       "livenessProbe port 8080 is not admin.listen's 9464"},
      {kManifests[0], "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 10",
       "terminationGracePeriodSeconds 10 does not cover drain_timeout 15s"},
      {kManifests[0], "write_key_file: /var/run/secrets/tailtrack/write_key", "write_key_file: /etc/tailtrack/write_key",
       "write_key_file /etc/tailtrack/write_key is not under a Secret's mount"},
      {kManifests[0], "paths: [\"/var/log/shop/*.log\"]", "paths: [\"/var/log/app/*.log\"]",
       "/var/log/app/*.log is not under a mounted volume"},
      {kManifests[0], "state_dir: /var/lib/tailtrack ", "state_dir: /var/tailtrack ",
       "state_dir /var/tailtrack is on the container's read-only root file system"},
      {kManifests[0], "sizeLimit: 512Mi", "sizeLimit: 128Mi", "the state volume's sizeLimit 128Mi is below"},
      {kManifests[0], "        fsGroup: 65532 ", "        supplementalGroups: [65532] ", "the Secret's mode 440 lets user 65532 not read it"},
      {kManifests[0], "          restartPolicy: Always ", "          restartPolicy: Never ",
       "a sidecar must be an initContainers entry with restartPolicy: Always"},
      {kManifests[0], "            readOnlyRootFilesystem: true\n            allowPrivilegeEscalation: false\n            capabilities:\n"
                      "              drop: [\"ALL\"]\n            seccompProfile:",
       "            readOnlyRootFilesystem: false\n            allowPrivilegeEscalation: false\n            capabilities:\n"
       "              drop: [\"ALL\"]\n            seccompProfile:",
       "readOnlyRootFilesystem must be true"},
      {kManifests[0], "containerPort: 9464", "containerPort: \"9464\"", "schema: data/spec/template/spec/initContainers/0/ports/0/containerPort must be integer"},
      {kManifests[1], "            path: /var/log/pods\n", "            path: /var/log/pods-elsewhere\n",
       "hostPath /var/log/pods-elsewhere mounted at /var/log/pods: absolute symlinks would not resolve"},
      {kManifests[1], "maxSurge: 0", "maxSurge: 1", "maxSurge must be 0"},
      {kManifests[1], "create secret generic tailtrack-write-key --from-literal=write_key=",
       "create secret generic tailtrack-key --from-literal=write_key=", "do not create Secret tailtrack-write-key with key write_key"},
  };
  for (const auto& m : mistakes) {
    SCOPED_TRACE(m.to);
    TempDir dir;
    const std::string copy = Mutated(dir, m.manifest, m.from, m.to);
    const ToolResult r = Check({copy}, dir / "out");
    EXPECT_EQ(r.status, 1) << r.Describe();
    EXPECT_NE(r.out.find(m.expected), std::string::npos) << r.Describe();
  }
}

}  // namespace
}  // namespace tailtrack::testing
