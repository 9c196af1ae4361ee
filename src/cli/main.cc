// tandem: command-line entry point. Subcommands are added by src/cli/.
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
    std::printf("usage: tandem run [options]\n");
    return argc < 2 ? 2 : 0;
  }
  std::fprintf(stderr, "tandem: unknown command '%s' (try 'tandem --help')\n", argv[1]);
  return 2;
}
