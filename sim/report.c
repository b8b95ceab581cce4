// SPDX-License-Identifier: MIT
/*
 * The run's summary, for a person and as JSON (DESIGN.md section 6).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "sim.h"

static double per(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

/* The values a check saw: "a 1, b 2" for people, "\"a\": 1, ..." in JSON. */
static void print_values(FILE *f, const struct vring_detection *det, bool json)
{
	unsigned int i;

	for (i = 0; i < det->nvalues; i++) {
		if (json)
			fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "",
				det->values[i].name, det->values[i].value);
		else
			fprintf(f, "%s%s %" PRIu64, i ? ", " : "",
				det->values[i].name, det->values[i].value);
	}
}

void sim_print_summary(FILE *f, const struct sim_result *res)
{
	uint64_t completed = 0;
	unsigned int i;

	fprintf(f, "vqsim: seed %" PRIu64 ", %s", res->seed, res->runner);
	if (!strcmp(res->runner, "stepped"))
		fprintf(f, ", %" PRIu64 " steps", res->steps);
	else
		fprintf(f, ", wait %s", res->wait);
	fprintf(f, ", notify %s", res->notify);
	fprintf(f, ", %" PRIu64 " restarts found more work\n",
		res->restart_races);
	for (i = 0; i < res->ndevs; i++) {
		const struct sim_dev_result *d = &res->devs[i];

		completed += d->completed;
		fprintf(f, "  %-5s queue %3" PRIu32 "  completed %" PRIu64 "/%"
			PRIu64 "  bytes %" PRIu64 "  kicks/buf %.4f"
			"  irqs/buf %.4f  %s\n",
			d->name, d->queue_size, d->completed, d->requests,
			d->bytes, per(d->kicks, d->completed),
			per(d->interrupts, d->completed),
			d->verified ? "verified" : "NOT VERIFIED");
		if (!strcmp(d->name, "blk"))
			fprintf(f, "        reads %" PRIu64 "  writes %" PRIu64
				"  barriers %" PRIu64 "  ioerr %" PRIu64
				"  unsupp %" PRIu64 "\n", d->reads, d->writes,
				d->barriers, d->ioerr, d->unsupp);
		if (!strncmp(d->name, "net", 3)) {
			fprintf(f, "        tx %" PRIu64 "  rx %" PRIu64
				"  dropped %" PRIu64, d->tx, d->rx, d->dropped);
			/* Only --recover loses frames so. */
			if (d->lost_in_reset)
				fprintf(f, "  lost in reset %" PRIu64,
					d->lost_in_reset);
			fputc('\n', f);
		}
		if (d->mismatches)
			fprintf(f, "        %" PRIu64 " completions did not "
				"match what was sent\n", d->mismatches);
		if (d->in_flight)
			fprintf(f, "        %" PRIu64 " requests were in flight "
				"when the run stopped\n", d->in_flight);
	}
	for (i = 0; i < res->ndetections; i++) {
		const struct sim_detection *d = &res->detections[i];

		fprintf(f, "  %s: %s %s on queue %s",
			d->recovered ? "recovered from" : "detected", d->side,
			d->det.check, d->queue);
		if (d->has_seq)
			fprintf(f, " at event %" PRIu64, d->seq);
		fputs(" (", f);
		print_values(f, &d->det, false);
		fputs(")\n", f);
	}
	for (i = 0; i < res->nfaults; i++) {
		fprintf(f, "  fault %s: ", res->fault_spec[i]);
		if (res->fault_applied[i])
			fputs("applied\n", f);
		else if (res->fault_moments[i] < res->fault_due[i])
			fprintf(f, "NOT applied, its queue made %" PRIu64
				" such publications\n", res->fault_moments[i]);
		else
			fputs("NOT applied, nothing to change at that "
			      "moment\n", f);
	}
	if (res->resets)
		fprintf(f, "  %" PRIu64 " queue reset%s (--recover)\n",
			res->resets, res->resets == 1 ? "" : "s");
	if (res->stalled)
		fprintf(f, "  STALLED after step %" PRIu64 ": both sides wait "
			"with work outstanding (a lost wake-up)\n", res->steps);
	fprintf(f, "  %.3f M buffers/s over %.3f s\n",
		res->elapsed_s > 0 ? (double)completed / res->elapsed_s / 1e6 :
		0.0, res->elapsed_s);
	fprintf(f, "%s\n", res->ok ? "ok" : "FAILED");
}

void sim_print_json(FILE *f, const struct sim_result *res)
{
	unsigned int i;

	/* Every string here is one of our own identifiers: no escaping. */
	fprintf(f, "{\"ok\": %s, \"seed\": %" PRIu64 ", \"runner\": \"%s\", "
		"\"notify\": \"%s\", \"wait\": \"%s\", "
		"\"steps\": %" PRIu64 ", \"stalled\": %s, "
		"\"restart_races\": %" PRIu64 ", \"devices\": [",
		res->ok ? "true" : "false", res->seed, res->runner,
		res->notify, res->wait, res->steps,
		res->stalled ? "true" : "false", res->restart_races);
	for (i = 0; i < res->ndevs; i++) {
		const struct sim_dev_result *d = &res->devs[i];

		fprintf(f, "%s{\"name\": \"%s\", \"queue_size\": %" PRIu32
			", \"requests\": %" PRIu64 ", \"completed\": %" PRIu64
			", \"bytes\": %" PRIu64 ", \"kicks\": %" PRIu64
			", \"interrupts\": %" PRIu64 ", \"in_flight\": %" PRIu64
			", \"mismatches\": %" PRIu64 ", \"verified\": %s",
			i ? ", " : "", d->name, d->queue_size, d->requests,
			d->completed, d->bytes, d->kicks, d->interrupts,
			d->in_flight, d->mismatches,
			d->verified ? "true" : "false");
		/* The device's own counters, inside its object. */
		if (!strcmp(d->name, "blk"))
			fprintf(f, ", \"reads\": %" PRIu64 ", \"writes\": %"
				PRIu64 ", \"barriers\": %" PRIu64
				", \"ioerr\": %" PRIu64 ", \"unsupp\": %"
				PRIu64, d->reads, d->writes, d->barriers,
				d->ioerr, d->unsupp);
		if (!strncmp(d->name, "net", 3))
			fprintf(f, ", \"tx\": %" PRIu64 ", \"rx\": %" PRIu64
				", \"dropped\": %" PRIu64
				", \"lost_in_reset\": %" PRIu64, d->tx, d->rx,
				d->dropped, d->lost_in_reset);
		fputc('}', f);
	}
	fputs("], \"detections\": [", f);
	for (i = 0; i < res->ndetections; i++) {
		const struct sim_detection *d = &res->detections[i];

		fprintf(f, "%s{\"side\": \"%s\", \"check\": \"%s\", "
			"\"queue\": \"%s\", ", i ? ", " : "", d->side,
			d->det.check, d->queue);
		if (d->has_seq)
			fprintf(f, "\"seq\": %" PRIu64 ", ", d->seq);
		fprintf(f, "\"recovered\": %s, \"values\": {",
			d->recovered ? "true" : "false");
		print_values(f, &d->det, true);
		fputs("}}", f);
	}
	fputs("], \"faults\": [", f);
	for (i = 0; i < res->nfaults; i++)
		fprintf(f, "%s{\"spec\": \"%s\", \"applied\": %s, "
			"\"publications\": %" PRIu64 "}", i ? ", " : "",
			res->fault_spec[i],
			res->fault_applied[i] ? "true" : "false",
			res->fault_moments[i]);
	fprintf(f, "], \"resets\": %" PRIu64 ", \"elapsed_s\": %.6f}\n",
		res->resets, res->elapsed_s);
}
