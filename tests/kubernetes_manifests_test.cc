// packaging/kubernetes/*.yaml, checked offline: yamllint; every object
// against the Kubernetes API schemas and every tailtrack container against
// the configuration its ConfigMap carries (packaging/kubernetes/check, run
// with node and npm's kubernetes-models, which packaging/install-deps.sh
// installs); and the real binary's `validate` on each embedded configuration,
// with the container's environment and its mounts under a temporary root.
// Not checked here: that a cluster accepts them (admission, an unknown field,
// which the schemas let pass), or that the pods start.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "external_tool.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

const std::vector<std::string> kManifests = {"packaging/kubernetes/sidecar.yaml", "packaging/kubernetes/daemonset.yaml"};

std::string CheckNodeDir() {
  const char* dir = std::getenv("TAILTRACK_CHECK_NODE_DIR");
  return dir && *dir ? dir : "/var/cache/tailtrack-check";
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
