#include "gateway/daemon.h"

int main(int argc, char** argv) { return bastion::gateway::daemon_main(argc, argv); }
