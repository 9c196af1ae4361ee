#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/json_stream.h"
#include "cli/monitor_spec.h"
#include "cli/qmp.h"
#include "cli/version.h"

namespace tandem::cli {
namespace {

using nlohmann::json;

std::vector<std::string> split(std::vector<std::string> chunks) {
  JsonStream s;
  std::vector<std::string> out;
  for (const auto& c : chunks) {
    s.feed(c);
    while (auto t = s.next()) out.push_back(*t);
  }
  return out;
}

TEST(JsonStream, SplitsAsQemusParserDoes) {
  EXPECT_EQ(split({"{\"a\": 1}\n"}), std::vector<std::string>{"{\"a\": 1}"});
  // One object over several lines and reads; two on one line.
  EXPECT_EQ(split({"{\"execute\":\n", " \"stop\"}{\"execute\"", ": \"cont\"}"}),
            (std::vector<std::string>{"{\"execute\":\n \"stop\"}", "{\"execute\": \"cont\"}"}));
  // Braces inside strings, escaped quotes.
  EXPECT_EQ(split({"{\"x\": \"}{\\\"\"} [1, [2]]"}),
            (std::vector<std::string>{"{\"x\": \"}{\\\"\"}", "[1, [2]]"}));
  // Bare scalars and a stray closer come out on their own (refused later).
  EXPECT_EQ(split({"\"hi\" 5\n} "}), (std::vector<std::string>{"\"hi\"", "5", "}"}));
  JsonStream s;
  s.feed("{\"a\": ");
  EXPECT_FALSE(s.next().has_value()) << "an unfinished object waits for more";
  EXPECT_GT(s.pending(), 0u);
}

TEST(MonitorSpec, TakesQemusOptionsOutOfThePath) {
  for (const char* spec : {"unix:/tmp/q.sock", "unix:/tmp/q.sock,server,nowait", "unix:/tmp/q.sock,server=on,wait=off",
                           "unix:/tmp/q.sock,nowait"}) {
    auto p = parse_monitor_spec(spec);
    ASSERT_TRUE(p.ok()) << spec << ": " << p.error().message();
    EXPECT_EQ(*p, "/tmp/q.sock") << spec;
  }
  EXPECT_EQ(*parse_monitor_spec("unix:/tmp/a,,b.sock,server"), "/tmp/a,b.sock") << "',,' is a comma in the path";
  auto wait = parse_monitor_spec("unix:/tmp/q.sock,server,wait=on");
  ASSERT_FALSE(wait.ok());
  EXPECT_NE(wait.error().message().find("'wait=on' is not supported"), std::string::npos) << wait.error().message();
  auto unknown = parse_monitor_spec("unix:/tmp/q.sock,telnet");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("unknown option 'telnet'"), std::string::npos);
  EXPECT_FALSE(parse_monitor_spec("unix:/tmp/q.sock,server=off").ok());
  EXPECT_FALSE(parse_monitor_spec("tcp:localhost:4444,server").ok());
  EXPECT_FALSE(parse_monitor_spec("unix:").ok());
  EXPECT_FALSE(parse_monitor_spec("unix:,server").ok());
  EXPECT_FALSE(parse_monitor_spec("unix:/" + std::string(200, 'x')).ok());
}

class QmpServe : public ::testing::Test {
 protected:
  json serve(const std::string& text) {
    return qmp_serve(text, session_, table_, [this](const std::string& cmd, const json& args) {
      handled_.push_back(cmd);
      return json{{"return", args}};
    });
  }
  QmpSession session_;
  std::vector<QmpCommand> table_ = {{"qmp_capabilities", {"enable"}}, {"stop", {}}, {"save", {"file"}}};
  std::vector<std::string> handled_;
};

std::string desc(const json& j) { return j["error"]["desc"]; }

TEST_F(QmpServe, NegotiationComesFirst) {
  json r = serve(R"({"execute": "stop", "id": 1})");
  EXPECT_EQ(r["error"]["class"], "CommandNotFound");
  EXPECT_EQ(desc(r), "Expecting capabilities negotiation with 'qmp_capabilities'");
  EXPECT_EQ(r["id"], 1);
  EXPECT_EQ(desc(serve(R"({"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}})")),
            "Capability 'oob' not available");
  EXPECT_EQ(serve(R"({"execute": "qmp_capabilities"})"), (json{{"return", json::object()}}));
  json again = serve(R"({"execute": "qmp_capabilities"})");
  EXPECT_EQ(again["error"]["class"], "CommandNotFound");
  EXPECT_EQ(serve(R"({"execute": "stop", "id": "x"})"), (json{{"return", json::object()}, {"id", "x"}}));
  EXPECT_EQ(handled_, std::vector<std::string>{"stop"});
}

TEST_F(QmpServe, RefusesWhatQemuRefuses) {
  serve(R"({"execute": "qmp_capabilities"})");
  EXPECT_EQ(desc(serve("[1]")), "QMP input must be a JSON object");
  EXPECT_EQ(desc(serve("{\"execute\": }")).rfind("JSON parse error", 0), 0u);
  EXPECT_EQ(desc(serve(R"({"arguments": {}})")), "QMP input lacks member 'execute'");
  EXPECT_EQ(desc(serve(R"({"execute": 5})")), "QMP input member 'execute' must be a string");
  EXPECT_EQ(desc(serve(R"({"execute": "stop", "arguments": []})")), "QMP input member 'arguments' must be an object");
  EXPECT_EQ(desc(serve(R"({"execute": "stop", "argments": {}})")), "QMP input member 'argments' is unexpected");
  json unknown = serve(R"({"execute": "frob"})");
  EXPECT_EQ(unknown["error"]["class"], "CommandNotFound");
  EXPECT_EQ(desc(unknown), "The command frob has not been found");
  json arg = serve(R"({"execute": "save", "arguments": {"file": "a", "fiel": "b"}})");
  EXPECT_EQ(arg["error"]["class"], "GenericError");
  EXPECT_EQ(desc(arg), "Parameter 'fiel' is unexpected");
  EXPECT_TRUE(handled_.empty());
  EXPECT_EQ(serve(R"({"execute": "save", "arguments": {"file": "a"}})")["return"]["file"], "a");
}

TEST(QmpMessages, GreetingAndEventsHaveQemusShape) {
  json g = qmp_greeting();
  ASSERT_TRUE(g["QMP"]["version"]["qemu"]["major"].is_number_integer());
  EXPECT_TRUE(g["QMP"]["version"]["package"].is_string());
  EXPECT_TRUE(g["QMP"]["capabilities"].is_array());
  json e = qmp_event("STOP");
  EXPECT_EQ(e["event"], "STOP");
  EXPECT_FALSE(e.contains("data"));
  EXPECT_GT(e["timestamp"]["seconds"].get<int64_t>(), 1'600'000'000);
  EXPECT_LT(e["timestamp"]["microseconds"].get<int64_t>(), 1'000'000);
  EXPECT_EQ(qmp_event("RESET", {{"guest", true}})["data"]["guest"], true);
}

TEST(QmpMessages, VersionIsTandemsOwn) {
  json v = qmp_version();
  EXPECT_EQ(v["package"], std::string("tandem ") + kTandemVersion);
  std::string dotted =
      std::to_string(v["qemu"]["major"].get<int>()) + "." + std::to_string(v["qemu"]["minor"].get<int>());
  EXPECT_EQ(std::string(kTandemVersion).rfind(dotted, 0), 0u) << dotted << " vs " << kTandemVersion;
}

// A malformed request is echoed in the error; bytes that are not UTF-8
// become U+FFFD instead of making dump() throw (found by fuzz_monitor).
TEST(QmpMessages, ALineReplacesInvalidUtf8) {
  QmpSession s;
  json r = qmp_serve("\xbc\xff{", s, {}, [](const std::string&, const json&) { return json(); });
  std::string line = qmp_line(r);
  EXPECT_EQ(line.back(), '\n');
  json back = json::parse(line);
  EXPECT_EQ(back["error"]["class"], "GenericError");
  EXPECT_NE(back["error"]["desc"].get<std::string>().find("\xef\xbf\xbd"), std::string::npos) << line;
}

}  // namespace
}  // namespace tandem::cli
