#include "gateway/ctl.h"

int main(int argc, char** argv) { return bastion::gateway::ctl_main(argc, argv); }
