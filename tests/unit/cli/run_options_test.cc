#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "board/machine_config.h"
#include "cli/monitor_spec.h"
#include "cli/run_command.h"

namespace tandem::cli {
namespace {

Result<board::MachineConfig> parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_run_options(static_cast<int>(argv.size()), argv.data(), 0);
}

TEST(RunOptions, ParsesBareMetal) {
  auto c = parse({"-m", "64M", "--bios", "none", "--kernel", "p.elf", "--stats", "--icount"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->ram_size, 64ull << 20);
  EXPECT_EQ(c->bios, "none");
  EXPECT_EQ(c->kernel, "p.elf");
  EXPECT_TRUE(c->stats);
  EXPECT_TRUE(c->icount);
}

TEST(RunOptions, Engine) {
  auto c = parse({"--kernel", "k"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->engine, "") << "left to TANDEM_ENGINE, else jit";
  for (const char* e : {"interp", "jit"}) {
    c = parse({"--kernel", "k", "--engine", e});
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->engine, e);
  }
  c = parse({"--kernel", "k", "--engine", "tcg"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(), "option --engine: 'tcg' is not interp or jit");
}

TEST(RunOptions, Smp) {
  auto c = parse({"--kernel", "k"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->harts, 1u);
  c = parse({"--kernel", "k", "-smp", "4"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->harts, 4u);
  c = parse({"--kernel", "k", "--smp=8"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->harts, 8u);
  for (const char* bad : {"0", "9", "2x", "", "-1"}) {
    c = parse({"--kernel", "k", "-smp", bad});
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().message(),
              std::string("option -smp: expected a number of harts from 1 to 8, not '") + bad + "'");
  }
}

// QEMU's -accel spelling picks the harts' threads: one each by default.
TEST(RunOptions, AccelThreads) {
  auto c = parse({"--kernel", "k", "-smp", "2"});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->hart_threads);
  c = parse({"--kernel", "k", "-accel", "tcg,thread=single"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_FALSE(c->hart_threads);
  c = parse({"--kernel", "k", "--accel", "tcg,thread=multi"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(c->hart_threads);
  c = parse({"--kernel", "k", "-accel", "kvm"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(),
            "option -accel: expected tcg, tcg,thread=multi or tcg,thread=single, not 'kvm'");
}

TEST(RunOptions, EqualsFormAndDrives) {
  auto c = parse({"--memory=1G", "--kernel=Image", "--drive", "file=d.img,readonly=on",
                  "--net", "user,hostfwd=tcp:127.0.0.1:8080-:80"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->ram_size, 1ull << 30);
  ASSERT_EQ(c->drives.size(), 1u);
  EXPECT_EQ(c->drives[0], "file=d.img,readonly=on");
  EXPECT_EQ(c->append, "console=ttyS0");
  EXPECT_EQ(c->nets.size(), 1u);
}

// --snapshot puts snapshot=on on every drive, whichever order the options
// come in; QEMU's format=raw and if=virtio are taken as they are.
TEST(RunOptions, SnapshotAndQemuDriveSpellings) {
  auto c = parse({"--kernel", "k", "--drive", "file=a.img,format=raw,if=virtio", "--snapshot", "--drive",
                  "file=b.img,readonly=on"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->drives.size(), 2u);
  EXPECT_EQ(c->drives[0], "file=a.img,format=raw,snapshot=on");
  EXPECT_EQ(c->drives[1], "file=b.img,readonly=on,snapshot=on");
  c = parse({"--kernel", "k", "--drive", "file=a.img"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->drives[0], "file=a.img") << "in place without --snapshot";
  set_drive_snapshot(*c, true);
  EXPECT_EQ(c->drives[0], "file=a.img,snapshot=on");
  set_drive_snapshot(*c, false);
  EXPECT_EQ(c->drives[0], "file=a.img") << "what restore --drive-in-place does";
  for (const char* bad : {"file=a.img,if=ide", "file=a.img,format=qcow2", "file=a.img,snapshot=yes"}) {
    auto e = parse({"--kernel", "k", "--drive", bad});
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().message().rfind("option --drive: drive '", 0), 0u) << e.error().message();
  }
}

TEST(RunOptions, ErrorsNameTheProblem) {
  auto unknown = parse({"--kernel", "k", "--frobnicate"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("'--frobnicate'"), std::string::npos);
  auto missing = parse({"--kernel"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "option --kernel needs a value");
  auto size = parse({"-m", "12Q", "--kernel", "k"});
  ASSERT_FALSE(size.ok());
  EXPECT_NE(size.error().message().find("bad size '12Q'"), std::string::npos);
  auto small = parse({"-m", "1M", "--kernel", "k"});
  ASSERT_FALSE(small.ok());
  auto drive = parse({"--kernel", "k", "--drive", "file=x,cache=none"});
  ASSERT_FALSE(drive.ok());
  EXPECT_NE(drive.error().message().find("cache"), std::string::npos) << drive.error().message();
  auto net = parse({"--kernel", "k", "--net", "usr"});
  ASSERT_FALSE(net.ok());
  EXPECT_NE(net.error().message().find("'usr'"), std::string::npos) << net.error().message();
  auto bare = parse({"--bios", "none"});
  ASSERT_FALSE(bare.ok());
  EXPECT_NE(bare.error().message().find("--bios none needs --kernel"), std::string::npos);
}

TEST(ParseSize, Units) {
  EXPECT_EQ(*board::parse_size("512K"), 512ull << 10);
  EXPECT_EQ(*board::parse_size("256"), 256ull << 20);
  EXPECT_EQ(*board::parse_size("2G"), 2ull << 30);
  EXPECT_EQ(*board::parse_size("64MB"), 64ull << 20);
  EXPECT_FALSE(board::parse_size("").ok());
  EXPECT_FALSE(board::parse_size("-5M").ok());
  EXPECT_FALSE(board::parse_size("99999999999999999999G").ok());
}

// QEMU's spellings: the chardev options stay out of the socket path,
// --qmp is --monitor, -nographic and -serial mon:stdio change nothing.
TEST(RunOptions, QemuSpellings) {
  HostOptions host;
  std::vector<std::string> args = {"--kernel", "k", "--qmp", "unix:/tmp/q.sock,server,nowait", "-nographic",
                                   "-serial", "mon:stdio", "-name", "vm1", "--pidfile", "/tmp/t.pid", "-daemonize"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  auto c = parse_run_options(static_cast<int>(argv.size()), argv.data(), 0, &host);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(*parse_monitor_spec(c->monitor), "/tmp/q.sock");
  EXPECT_EQ(host.name, "vm1");
  EXPECT_EQ(host.pidfile, "/tmp/t.pid");
  EXPECT_TRUE(host.daemonize);
  auto wait = parse({"--kernel", "k", "--monitor", "unix:/tmp/q.sock,server,wait=on"});
  ASSERT_FALSE(wait.ok());
  EXPECT_NE(wait.error().message().find("option --monitor: monitor 'unix:/tmp/q.sock,server,wait=on': 'wait=on'"),
            std::string::npos)
      << wait.error().message();
  auto two = parse({"--kernel", "k", "--monitor", "unix:/a", "--qmp", "unix:/b"});
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().message().find("one monitor only"), std::string::npos);
  auto serial = parse({"--kernel", "k", "-serial", "pty"});
  ASSERT_FALSE(serial.ok());
  EXPECT_NE(serial.error().message().find("'pty'"), std::string::npos);
  EXPECT_FALSE(parse({"--kernel", "k", "--name", "a,process=b"}).ok());
  EXPECT_FALSE(parse({"--kernel", "k", "--pidfile"}).ok());
}

}  // namespace
}  // namespace tandem::cli
