// `tailtrack status`: GET /status from a running agent's admin endpoint and
// print it for a person; `--watch` redraws it every second like top.
#include <curl/curl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/status_view.h"
#include "config/loader.h"

namespace tailtrack {
namespace {

constexpr const char* kDefaultAdmin = "127.0.0.1:9464";
constexpr size_t kMaxBody = 16 << 20;  // far above any real status; a wrong server cannot fill memory

volatile std::sig_atomic_t interrupted = 0;
void OnInterrupt(int) { interrupted = 1; }

// What to connect to: --admin, else admin.listen of -c FILE, else the
// default. A bare port is on 127.0.0.1, as for admin.listen itself.
// Returns an exit status when it cannot say (0: `*address` is set).
int AdminAddress(const StatusOptions& options, std::string* address) {
  std::string listen = options.admin;
  if (listen.empty() && !options.config_path.empty()) {
    try {
      const Config config = LoadConfig(options.config_path, ProcessEnv(), LoadOptions{.require_write_key = false});
      if (config.admin.listen.empty()) {
        std::fprintf(stderr, "tailtrack status: %s sets no admin.listen, so the agent serves no status "
                     "(set it, or give --admin ADDR)\n", options.config_path.c_str());
        return 1;
      }
      listen = config.admin.listen;
      if (listen == "0" || listen.ends_with(":0")) {
        std::fprintf(stderr, "tailtrack status: %s sets admin.listen to port 0 (any free port); give --admin "
                     "HOST:PORT with the port the agent logged (\"admin endpoint on ...\")\n",
                     options.config_path.c_str());
        return 1;
      }
    } catch (const ConfigError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return kExitConfig;
    }
  }
  if (listen.empty()) listen = kDefaultAdmin;
  if (listen.find(':') == std::string::npos) listen = "127.0.0.1:" + listen;
  *address = listen;
  return 0;
}

size_t Append(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * n > kMaxBody) return 0;  // curl fails the transfer
  body->append(data, size * n);
  return size * n;
}

// GET http://ADDRESS/status. On failure, false and one readable reason.
bool FetchStatus(CURL* curl, const std::string& address, std::string* body, std::string* error) {
  body->clear();
  const std::string url = "http://" + address + "/status";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");  // the agent is local; an http_proxy must not take it elsewhere
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    long os_errno = 0;
    curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
    *error = fmt::format("cannot reach the agent at {}: {}", address,
                         os_errno ? std::strerror(static_cast<int>(os_errno)) : curl_easy_strerror(code));
    if (os_errno == ECONNREFUSED) *error += " (is admin.listen set?)";
    return false;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    *error = fmt::format("the agent at {} answered HTTP {} to GET /status", address, status);
    return false;
  }
  return true;
}

// Colour only for a person at a terminal who has not asked for none
// (https://no-color.org: NO_COLOR set and not empty).
bool UseColour() {
  const char* no_colour = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) && !(no_colour && *no_colour) && !(term && std::strcmp(term, "dumb") == 0);
}

// Columns and rows of the terminal on stdout; 0 when unknown.
struct winsize TerminalSize() {
  struct winsize size{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) != 0) size = {};
  return size;
}

void SleepUntilNextSample(int64_t millis) {
  struct timespec pause{millis / 1000, (millis % 1000) * 1000000};
  while (!interrupted && ::nanosleep(&pause, &pause) != 0 && errno == EINTR) {
  }
}

void Write(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// One sample; with --watch, one every second until Ctrl-C. The first sample
// decides the exit status; once watching, an agent that goes away is shown
// in place and asked again (it may be restarting).
int Show(CURL* curl, const StatusOptions& options, const std::string& address) {
  const bool terminal = ::isatty(STDOUT_FILENO);
  const bool redraw = options.watch && terminal && !options.json;
  StatusSample previous;
  std::string body, error, text;
  for (int round = 0; !interrupted; ++round) {
    if (round > 0) SleepUntilNextSample(1000);
    if (interrupted) break;
    const struct winsize screen = redraw ? TerminalSize() : winsize{};
    StatusViewOptions view{.colour = UseColour(), .address = address, .width = screen.ws_col};
    if (!FetchStatus(curl, address, &body, &error)) {
      if (round == 0) {
        std::fprintf(stderr, "tailtrack status: %s\n", error.c_str());
        return 1;
      }
      if (redraw) Write(fmt::format("\x1b[H{}\x1b[K\n\x1b[J", error));
      else std::fprintf(stderr, "tailtrack status: %s\n", error.c_str());
      previous = {};
      continue;
    }
    if (options.json) {
      if (!body.empty() && body.back() != '\n') body += '\n';
      Write(body);
    } else {
      StatusSample sample;
      if (!RenderStatus(body, previous, view, &text, &sample, &error)) {
        std::fprintf(stderr, "tailtrack status: the answer from %s is %s\n", address.c_str(), error.c_str());
        if (round == 0) return 1;
        continue;
      }
      previous = sample;
      if (redraw) {
        // Home, each line over the old one (erasing its rest), then the rest
        // of the screen; no more lines than fit, or the screen would scroll.
        std::string frame = "\x1b[H";
        size_t rows = 0;
        for (size_t start = 0; start < text.size() && (screen.ws_row == 0 || rows + 1 < screen.ws_row); ++rows) {
          const size_t end = text.find('\n', start);
          frame.append(text, start, end - start).append("\x1b[K\n");
          start = end + 1;
        }
        Write(frame + "\x1b[J");
      } else {
        Write(options.watch && round > 0 ? "\n" + text : text);
      }
    }
    if (!options.watch) break;
  }
  return 0;
}

}  // namespace

int StatusCommand(const StatusOptions& options) {
  std::string address;
  if (const int status = AdminAddress(options, &address); status != 0) return status;
  CURL* curl = curl_easy_init();
  if (!curl) {
    std::fprintf(stderr, "tailtrack status: libcurl failed to start\n");
    return 1;
  }
  const bool redraw = options.watch && ::isatty(STDOUT_FILENO) && !options.json;
  if (options.watch) {
    // Ctrl-C ends the watch cleanly: the terminal is given back as it was.
    struct sigaction action {};
    action.sa_handler = OnInterrupt;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
  }
  if (redraw) Write("\x1b[?1049h\x1b[?25l");  // the alternate screen, cursor hidden, as top does
  const int status = Show(curl, options, address);
  if (redraw) Write("\x1b[?25h\x1b[?1049l");
  curl_easy_cleanup(curl);
  return status;
}

}  // namespace tailtrack
