// SPDX-License-Identifier: MIT
/*
 * vqsim: parse the command line, run, report.  Exit status 0 when every
 * buffer was verified and no check fired, 1 otherwise, 2 for usage errors.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

int main(int argc, char **argv)
{
	struct sim_config cfg;
	struct sim_result res;
	char err[256];
	int ret;

	if (argc > 1 && !strcmp(argv[1], "decode"))
		return sim_decode_main(argc - 1, argv + 1);
	sim_config_default(&cfg);
	ret = sim_parse_args(argc, argv, &cfg, stdout, err, sizeof(err));
	if (ret == 1)
		return 0;
	if (ret) {
		fprintf(stderr, "vqsim: %s\n", err);
		return 2;
	}
	if (cfg.campaign) {
		cfg.stepped = !cfg.threaded;
		ret = sim_campaign(&cfg, stdout, isatty(2) ? stderr : NULL);
		if (ret < 0) {
			fprintf(stderr, "vqsim: campaign: %s\n",
				strerror(-ret));
			return 1;
		}
		return ret;
	}
	ret = sim_run(&cfg, &res);
	if (ret) {
		fprintf(stderr, "vqsim: cannot run the simulation%s%s: %s\n",
			cfg.trace_path ? " or write the trace " : "",
			cfg.trace_path ? cfg.trace_path : "", strerror(-ret));
		return 1;
	}
	if (cfg.json)
		sim_print_json(stdout, &res);
	else
		sim_print_summary(stdout, &res);
	return res.ok ? 0 : 1;
}
