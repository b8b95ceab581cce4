// SPDX-License-Identifier: MIT
/*
 * faults/: the spec language (every production, every error naming its
 * token), what a spec does to a ring, and the examples of DESIGN.md
 * section 5 giving exactly the detections they name, in both runners.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faults.h"
#include "harness.h"
#include "sim.h"
#include "tests.h"

/* Specs that parse, and the canonical form each prints back as. */
static const struct {
	const char *text, *canonical;
} good[] = {
	{ "blk:desc[head].next=999@kick:3", NULL },
	{ "null:used.ring[last].id=head.1@irq:2", NULL },
	{ "avail.idx+=1000@kick:100", NULL },
	{ "net.rx:avail.ring[last]^=0x10@kick:1",
	  "net.rx:avail.ring[last]^=16@kick:1" },
	{ "net.tx:used.idx=0@irq:7", NULL },
	{ "peer.tx:used.ring[3].len+=4096@irq:1", NULL },
	{ "desc[head.2].flags^=4@kick:9", NULL },
	{ "desc[17].pfn=4294967295@kick:18446744073709551615", NULL },
	{ "desc[head.0].offset=65535@kick:1", "desc[head].offset=65535@kick:1" },
	{ "desc[last].len=0@irq:4", NULL },
	{ "avail.ring[0]=head@kick:2", NULL },
	{ "blk:avail.ring[last]=avail.ring[last-1]@kick:4", NULL },
	{ "used.ring[last-2].id=used.ring[7].id@irq:1", NULL },
	{ "avail.ring[last-0]=avail.ring[last-0]@kick:1",
	  "avail.ring[last]=avail.ring[last]@kick:1" },
};

START_TEST(test_parse_round_trip)
{
	struct flt_spec a, b;
	char err[256], text[128];

	ck_assert_msg(flt_parse(good[_i].text, &a, err, sizeof(err)) == 0,
		      "%s: %s", good[_i].text, err);
	flt_format(&a, text, sizeof(text));
	ck_assert_str_eq(text, good[_i].canonical ? good[_i].canonical :
			 good[_i].text);
	ck_assert_int_eq(flt_parse(text, &b, err, sizeof(err)), 0);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
}
END_TEST

START_TEST(test_parse_fields)
{
	struct flt_spec s;
	char err[256];

	ck_assert_int_eq(flt_parse("blk:desc[head.3].next+=2@irq:5", &s, err,
				   sizeof(err)), 0);
	ck_assert_str_eq(s.queue, "blk");
	ck_assert_int_eq(s.field, FLT_DESC_NEXT);
	ck_assert_int_eq(s.index.ref, FLT_REF_HEAD);
	ck_assert_uint_eq(s.index.n, 3);
	ck_assert_int_eq(s.op, FLT_ADD);
	ck_assert_int_eq(s.value.ref, FLT_REF_NUM);
	ck_assert_uint_eq(s.value.n, 2);
	ck_assert_int_eq(s.moment, FLT_AT_IRQ);
	ck_assert_uint_eq(s.n, 5);

	ck_assert_int_eq(flt_parse("used.ring[last].id=head.1@kick:2", &s,
				   err, sizeof(err)), 0);
	ck_assert_str_eq(s.queue, "");
	ck_assert_int_eq(s.field, FLT_USED_ID);
	ck_assert_int_eq(s.index.ref, FLT_REF_LAST);
	ck_assert_int_eq(s.value.ref, FLT_REF_HEAD);
	ck_assert_uint_eq(s.value.n, 1);
	ck_assert_int_eq(s.moment, FLT_AT_KICK);
}
END_TEST

/* A bad spec is one line that names the token at fault. */
static const struct {
	const char *text, *must_say;
} bad[] = {
	{ "blk:desc[head].nxt=1@kick:3",
	  "unknown field 'nxt' (expected pfn, len, offset, flags or next)" },
	{ "floppy:avail.idx=1@kick:1", "unknown queue 'floppy'" },
	{ "avail.foo=1@kick:1", "unknown field 'avail.foo'" },
	{ "used.ring[1].idd=1@irq:1", "unknown used-ring field '.idd'" },
	{ "ring[1]=1@kick:1", "unknown field 'ring'" },
	{ "desc[x].len=1@kick:1", "an index (a number, last, last-N, head or head.N)" },
	{ "desc[1.len=1@kick:1", "expected ']' at '.len'" },
	{ "desc[1]len=1@kick:1", "expected '.' and a descriptor field at 'len'" },
	{ "desc[head.300].len=1@kick:1", "N of head.N '300'" },
	{ "desc[4294967296].len=1@kick:1", "4294967296" },
	{ "avail.idx-=1@kick:1", "expected '=', '+=' or '^=' at '-'" },
	{ "avail.idx=@kick:1", "expected a value (a number, head, head.N, avail.ring[I] or used.ring[I].id) at '@'" },
	{ "avail.idx=last@kick:1", "at 'last'" },
	{ "avail.idx=0x1g@kick:1", "bad a value" },
	{ "avail.idx=1", "expected '@WHEN' at 'end of spec'" },
	{ "avail.idx=1@tick:1", "unknown moment 'tick'" },
	{ "avail.idx=1@kick:0", "moments count from 1" },
	{ "avail.idx=1@kick:x", "expected N of the moment at 'x'" },
	{ "avail.idx=1@kick:3 junk", "unexpected ' ' after the moment" },
	{ "", "unknown field 'end of spec'" },
	{ "avail.ring[last-]=1@kick:1", "expected N of last-N at ']'" },
	{ "avail.ring[last]=avail.ring[head]@kick:1", "not head" },
	{ "avail.ring[last]=used.ring[1]@kick:1", "expected '.id' at '@'" },
};

START_TEST(test_parse_errors)
{
	struct flt_spec s;
	char err[256];

	ck_assert_int_eq(flt_parse(bad[_i].text, &s, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, bad[_i].must_say) != NULL,
		      "'%s': '%s' does not say '%s'", bad[_i].text, err,
		      bad[_i].must_say);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

/* A ring with one 3-descriptor chain (5 -> 6 -> 7) made available in
 * slot 0 and one used entry {5, 10} in used slot 0. */
static void chain_ring(struct mock_ring *m)
{
	mock_ring_init(m, 8, 0);
	mock_desc(m, 5, MOCK_BUF_PFN, 0, 10, VRING_DESC_F_HEAD |
		  VRING_DESC_F_NEXT, 6);
	mock_desc(m, 6, MOCK_BUF_PFN + 1, 0, 10, VRING_DESC_F_NEXT, 7);
	mock_desc(m, 7, MOCK_BUF_PFN + 2, 0, 10, VRING_DESC_F_WRITE, 0);
	mock_avail_push(m, 5);
	mock_used_push(m, 5, 10);
}

static struct flt_spec spec_of(const char *text)
{
	struct flt_spec s;
	char err[256];

	ck_assert_msg(flt_parse(text, &s, err, sizeof(err)) == 0, "%s", err);
	return s;
}

/* Operands resolve at the publication: last is the slot just written,
 * head what it names, head.N the Nth along the shared next fields. */
START_TEST(test_apply_resolves_operands)
{
	struct mock_ring m;
	struct flt_spec s;
	struct vring_desc d;
	struct vring_used_elem e;
	uint32_t idx = 1;

	chain_ring(&m);
	s = spec_of("desc[head.2].len=77@kick:1");
	ck_assert_int_eq(flt_apply(&s, &m.vr, &idx), 1);
	vring_desc_read(&m.vr, 7, &d);
	ck_assert_uint_eq(d.len, 77);
	ck_assert_uint_eq(idx, 1);

	s = spec_of("desc[head.3].len=77@kick:1");
	ck_assert_int_eq(flt_apply(&s, &m.vr, &idx), 0);

	s = spec_of("desc[head].next^=1@kick:1");
	ck_assert_int_eq(flt_apply(&s, &m.vr, &idx), 1);
	vring_desc_read(&m.vr, 5, &d);
	ck_assert_uint_eq(d.next, 7);
	ck_assert_uint_eq(d.flags, VRING_DESC_F_HEAD | VRING_DESC_F_NEXT);

	s = spec_of("used.ring[last].id=head.1@irq:1");
	ck_assert_int_eq(flt_apply(&s, &m.vr, &idx), 1);
	vring_used_elem_read(&m.vr, 0, &e);
	/* head.1 of head 5 now follows the corrupted next: 7. */
	ck_assert_uint_eq(e.id, 7);
	ck_assert_uint_eq(e.len, 10);

	s = spec_of("avail.ring[last]+=3@kick:1");
	ck_assert_int_eq(flt_apply(&s, &m.vr, &idx), 1);
	ck_assert_uint_eq(vring_avail_ring_read(&m.vr, 0), 8);

	s = spec_of("desc[300].len=1@kick:1");
	ck_assert_int_eq(flt_apply(&s, &m.vr, &idx), 0);

	/* A second head in slot 1, then slot 1 made a copy of slot 0. */
	mock_desc(&m, 2, MOCK_BUF_PFN, 0, 10, VRING_DESC_F_HEAD, 0);
	mock_avail_push(&m, 2);
	idx = 2;
	ck_assert_uint_eq(vring_avail_ring_read(&m.vr, 1), 2);
	s = spec_of("avail.ring[last]=avail.ring[last-1]@kick:2");
	ck_assert_int_eq(flt_apply(&s, &m.vr, &idx), 1);
	ck_assert_uint_eq(vring_avail_ring_read(&m.vr, 1), 8);
	s = spec_of("desc[last-1].len=5@kick:2");
	ck_assert_int_eq(flt_apply(&s, &m.vr, &idx), 1);
	vring_desc_read(&m.vr, 0, &d);
	ck_assert_uint_eq(d.len, 5);
	mock_ring_fini(&m);
}
END_TEST

/* A fault on the publishing side's own index changes the value it is
 * about to publish; on the other side's, it writes the page. */
START_TEST(test_apply_indices)
{
	struct mock_ring m;
	struct flt_spec s;
	uint32_t idx = 1;

	chain_ring(&m);
	s = spec_of("avail.idx+=1000@kick:1");
	ck_assert_int_eq(flt_apply(&s, &m.vr, &idx), 1);
	ck_assert_uint_eq(idx, 1001);
	ck_assert_uint_eq(vring_avail_idx_acquire(&m.vr), 1);

	idx = 1;
	s = spec_of("used.idx=4294967295@irq:1");
	ck_assert_int_eq(flt_apply(&s, &m.vr, &idx), 1);
	ck_assert_uint_eq(idx, UINT32_MAX);

	idx = 1;
	s = spec_of("used.idx^=2@kick:1");
	ck_assert_int_eq(flt_apply(&s, &m.vr, &idx), 1);
	ck_assert_uint_eq(idx, 1);
	ck_assert_uint_eq(vring_used_idx_acquire(&m.vr), 3);
	mock_ring_fini(&m);
}
END_TEST

/* DESIGN.md section 5's examples, and more, end to end: exactly one
 * detection, by the named side, with the named id, on the named queue. */
static const struct {
	const char *spec, *side, *check, *spec2;
} e2e[] = {
	{ "desc[head].next=999@kick:3", "host", "desc_next_range" },
	{ "null:used.ring[last].id=head.1@irq:2", "guest", "used_id_not_head" },
	{ "avail.idx+=1000@kick:2", "host", "avail_idx_jump" },
	{ "avail.ring[last]=300@kick:2", "host", "avail_head_range" },
	{ "desc[head].flags^=1@kick:4", "host", "avail_not_head" },
	{ "desc[head.1].flags^=1@kick:4", "host", "desc_middle_head" },
	{ "desc[head].next=head@kick:2", "host", "desc_loop" },
	{ "desc[head].flags^=8@kick:2", "host", "desc_unknown_flags" },
	{ "desc[head].pfn=4000000@kick:2", "host", "desc_bad_addr" },
	{ "desc[head].len=0@kick:2", "host", "desc_zero_len" },
	{ "desc[head].flags^=4@kick:2", "host", "desc_out_after_in",
	  "desc[head.1].flags^=4@kick:2" },
	{ "used.idx+=300@irq:2", "guest", "used_idx_jump" },
	{ "used.ring[last].id=256@irq:2", "guest", "used_id_range" },
	{ "used.ring[last].len+=100000@irq:2", "guest", "used_len_range" },
	{ "desc[head].len^=1@irq:2", "guest", "desc_tampered" },
	{ "desc[head.1].next=7@irq:3", "guest", "desc_tampered" },
};

START_TEST(test_examples_detect)
{
	struct sim_config cfg;
	struct sim_result res;
	char err[256];
	int stepped;

	for (stepped = 0; stepped < 2; stepped++) {
		test_sim_config(&cfg);
		cfg.devices = SIM_DEV_NULL;
		cfg.requests = 3000;
		cfg.seed = 77 + (uint64_t)_i;
		cfg.stepped = stepped;
		cfg.nfaults = e2e[_i].spec2 ? 2 : 1;
		ck_assert_msg(flt_parse(e2e[_i].spec, &cfg.faults[0], err,
					sizeof(err)) == 0, "%s", err);
		strcpy(cfg.faults[0].queue, "null");
		if (e2e[_i].spec2) {
			ck_assert_int_eq(flt_parse(e2e[_i].spec2,
						   &cfg.faults[1], err,
						   sizeof(err)), 0);
			strcpy(cfg.faults[1].queue, "null");
		}
		ck_assert_int_eq(sim_run(&cfg, &res), 0);
		ck_assert(res.fault_applied[0]);
		ck_assert(!res.ok);
		ck_assert(!res.stalled);
		ck_assert_msg(res.ndetections == 1, "%s: %u detections",
			      e2e[_i].spec, res.ndetections);
		ck_assert_str_eq(res.detections[0].side, e2e[_i].side);
		ck_assert_str_eq(res.detections[0].det.check, e2e[_i].check);
		ck_assert_str_eq(res.detections[0].queue, "null");
		ck_assert_uint_eq(res.devs[0].mismatches, 0);
	}
}
END_TEST

/* The command line names the queue for a spec that does not, refuses a
 * queue the run lacks, and insists on a name when there are several. */
START_TEST(test_cli_fault_queues)
{
	char *one[] = { "vqsim", "--device", "null", "--fault",
			"desc[head].len=0@kick:1", NULL };
	char *missing[] = { "vqsim", "--device", "null", "--fault",
			    "blk:desc[head].len=0@kick:1", NULL };
	char *ambiguous[] = { "vqsim", "--device", "null", "--device", "blk",
			      "--fault", "desc[head].len=0@kick:1", NULL };
	char *typo[] = { "vqsim", "--fault", "desc[head].nxt=0@kick:1", NULL };
	struct sim_config cfg;
	char err[256];
	FILE *devnull = fopen("/dev/null", "w");

	test_sim_config(&cfg);
	ck_assert_int_eq(sim_parse_args(5, one, &cfg, devnull, err,
					sizeof(err)), 0);
	ck_assert_str_eq(cfg.faults[0].queue, "null");
	test_sim_config(&cfg);
	ck_assert_int_eq(sim_parse_args(5, missing, &cfg, devnull, err,
					sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "this run has no queue blk"));
	test_sim_config(&cfg);
	ck_assert_int_eq(sim_parse_args(7, ambiguous, &cfg, devnull, err,
					sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "name the queue, this run has blk, "
				     "null"));
	test_sim_config(&cfg);
	ck_assert_int_eq(sim_parse_args(3, typo, &cfg, devnull, err,
					sizeof(err)), 2);
	ck_assert_ptr_nonnull(strstr(err, "--fault 'desc[head].nxt=0@kick:1': "
				     "unknown field 'nxt'"));
	fclose(devnull);
}
END_TEST

/*
 * Every fault is reported: applied, or why not (its moment never came,
 * and how far its queue got; or there was nothing to change then), in
 * the summary and in the JSON.  A fault that silently did nothing would
 * make a passing run look like a proof.
 */
START_TEST(test_fault_report)
{
	static const char *const spec[] = {
		"null:desc[head].len=0@kick:3",
		"null:desc[head].len=0@kick:100000",
		"null:desc[head.5].len=0@kick:2",
	};
	struct sim_config cfg;
	struct sim_result res;
	char err[256], *buf = NULL;
	size_t len = 0;
	unsigned int k;
	FILE *f;

	test_sim_config(&cfg);
	cfg.devices = SIM_DEV_NULL;
	cfg.requests = 200;
	cfg.seed = 5;
	cfg.stepped = true;
	cfg.nfaults = 3;
	for (k = 0; k < 3; k++)
		ck_assert_msg(flt_parse(spec[k], &cfg.faults[k], err,
					sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(sim_run(&cfg, &res), 0);
	ck_assert_uint_eq(res.nfaults, 3);
	ck_assert(res.fault_applied[0]);
	ck_assert(!res.fault_applied[1]);
	ck_assert(!res.fault_applied[2]);
	/* The first fault broke the queue within a few kicks. */
	ck_assert_uint_ge(res.fault_moments[0], 3);
	ck_assert_uint_lt(res.fault_moments[1], 100);
	ck_assert_uint_ge(res.fault_moments[2], 2);
	ck_assert_uint_eq(res.fault_due[1], 100000);

	f = open_memstream(&buf, &len);
	sim_print_summary(f, &res);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "fault null:desc[head].len=0@kick:3"
				     ": applied\n"));
	snprintf(err, sizeof(err), "fault null:desc[head].len=0@kick:100000: "
		 "NOT applied, its queue made %" PRIu64 " such publications\n",
		 res.fault_moments[1]);
	ck_assert_ptr_nonnull(strstr(buf, err));
	ck_assert_ptr_nonnull(strstr(buf, "fault null:desc[head.5].len=0@kick:2"
				     ": NOT applied, nothing to change at "
				     "that moment\n"));
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	sim_print_json(f, &res);
	fclose(f);
	snprintf(err, sizeof(err), "\"faults\": [{\"spec\": "
		 "\"null:desc[head].len=0@kick:3\", \"applied\": true, "
		 "\"publications\": %" PRIu64 "}, {\"spec\": "
		 "\"null:desc[head].len=0@kick:100000\", \"applied\": false, "
		 "\"publications\": %" PRIu64 "}", res.fault_moments[0],
		 res.fault_moments[1]);
	ck_assert_ptr_nonnull(strstr(buf, err));
	free(buf);
}
END_TEST

/*
 * The campaign: every class, a run each many times over, every run
 * detected by an expected id.  Stepped, so this is the same 2100 runs
 * every time; the matrix says which.
 */
START_TEST(test_campaign_stepped)
{
	struct sim_config cfg;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	unsigned int c;
	int ret;

	test_sim_config(&cfg);
	cfg.campaign = 100 * flt_nclasses;
	cfg.seed = 20261129;
	cfg.stepped = true;
	ret = sim_campaign(&cfg, out, NULL);
	fclose(out);
	ck_assert_msg(ret == 0, "campaign failed:\n%s", text);
	for (c = 0; c < flt_nclasses; c++)
		ck_assert_ptr_nonnull(strstr(text, flt_classes[c].name));
	ck_assert_ptr_nonnull(strstr(text, " runs in "));
	free(text);
}
END_TEST

/* The same with real threads: fewer runs, each a fresh pair of them. */
START_TEST(test_campaign_threaded)
{
	struct sim_config cfg;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int ret;

	test_sim_config(&cfg);
	cfg.campaign = 5 * flt_nclasses;
	cfg.seed = 7;
	cfg.json = true;
	ret = sim_campaign(&cfg, out, NULL);
	fclose(out);
	ck_assert_msg(ret == 0, "campaign failed:\n%s", text);
	ck_assert_ptr_nonnull(strstr(text, "\"ok\": true"));
	ck_assert_ptr_nonnull(strstr(text, "\"runner\": \"threaded\""));
	free(text);
}
END_TEST

/* Shards partition the runs: their run counts add up to the whole. */
START_TEST(test_campaign_shards)
{
	struct sim_config cfg;
	uint64_t total = 0, runs;
	char *text = NULL, *p;
	size_t len = 0;
	unsigned int k;

	for (k = 1; k <= 3; k++) {
		FILE *out = open_memstream(&text, &len);

		test_sim_config(&cfg);
		cfg.campaign = 100;
		cfg.seed = 3;
		cfg.stepped = true;
		cfg.json = true;
		cfg.shard_k = k;
		cfg.shard_m = 3;
		ck_assert_int_eq(sim_campaign(&cfg, out, NULL), 0);
		fclose(out);
		p = strstr(text, "\"runs\": ");
		ck_assert_ptr_nonnull(p);
		runs = strtoull(p + 8, NULL, 10);
		ck_assert_uint_ge(runs, 33);
		ck_assert_uint_le(runs, 34);
		total += runs;
		free(text);
		text = NULL;
	}
	ck_assert_uint_eq(total, 100);
}
END_TEST

/*
 * --recover: each detection resets the queue, the driver posts again what
 * was in flight, and the run still completes every request, verified.
 * A fault on each side, in both runners, with the indices near the wrap.
 */
START_TEST(test_recover_null)
{
	static const char *const specs[] = {
		"null:avail.idx+=1000@kick:40",
		"null:used.ring[last].id=300@irq:60",
		"null:desc[head.1].next=999@kick:200",
	};
	struct sim_config cfg;
	struct sim_result res;
	char err[256];
	unsigned int i;

	test_sim_config(&cfg);
	cfg.devices = SIM_DEV_NULL;
	cfg.requests = 20000;
	cfg.chain_out = 2;
	cfg.chain_in = 2;
	cfg.seed = 5;
	cfg.stepped = _i;
	cfg.recover = true;
	cfg.start_index = UINT32_MAX - 1000;
	cfg.nfaults = 3;
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(flt_parse(specs[i], &cfg.faults[i], err,
					   sizeof(err)), 0);
	ck_assert_int_eq(sim_run(&cfg, &res), 0);
	ck_assert_msg(res.ok, "not ok");
	/*
	 * Stepped, each fault makes exactly one reset.  Threaded, a fault
	 * whose moment falls while the queue is already broken is wiped by
	 * that reset, so only the first is certain.
	 */
	if (cfg.stepped) {
		ck_assert_uint_eq(res.resets, 3);
		ck_assert_uint_eq(res.ndetections, 3);
	} else {
		ck_assert_uint_ge(res.resets, 1);
	}
	for (i = 0; i < res.ndetections; i++)
		ck_assert(res.detections[i].recovered);
	ck_assert_uint_eq(res.devs[0].completed, cfg.requests);
	ck_assert_uint_eq(res.devs[0].mismatches, 0);
	ck_assert(res.devs[0].verified);
}
END_TEST

/*
 * The issue's own example: blk, a driver whose avail idx leaps at kick
 * 100, and --recover.  Requests in flight at the reset (some in a worker's
 * hands) are posted again; every one completes, every read and the whole
 * disk verify.  Plus a device-side fault and a malformed request later.
 */
START_TEST(test_recover_blk)
{
	static const char *const specs[] = {
		"blk:avail.idx+=1000@kick:100",
		"blk:used.ring[last].id=300@irq:400",
		"blk:desc[head].len+=1@kick:500",
	};
	struct sim_config cfg;
	struct sim_result res;
	char err[256];
	unsigned int i;

	test_sim_config(&cfg);
	cfg.devices = SIM_DEV_BLK;
	cfg.requests = 20000;
	cfg.disk_size = 4u << 20;
	cfg.seed = 11;
	cfg.stepped = _i;
	cfg.recover = true;
	cfg.nfaults = 3;
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(flt_parse(specs[i], &cfg.faults[i], err,
					   sizeof(err)), 0);
	ck_assert_int_eq(sim_run(&cfg, &res), 0);
	ck_assert_msg(res.ok, "not ok");
	/*
	 * Stepped, each fault makes exactly one reset.  Threaded, a fault
	 * whose moment falls while the queue is already broken is wiped by
	 * that reset, so only the first is certain.
	 */
	if (cfg.stepped) {
		ck_assert_uint_eq(res.resets, 3);
		ck_assert_uint_eq(res.ndetections, 3);
	} else {
		ck_assert_uint_ge(res.resets, 1);
	}
	for (i = 0; i < res.ndetections; i++)
		ck_assert(res.detections[i].recovered);
	ck_assert_uint_eq(res.devs[0].completed, cfg.requests);
	ck_assert_uint_eq(res.devs[0].mismatches, 0);
	ck_assert(res.devs[0].verified);
}
END_TEST

/* Without --recover the same first fault ends the run, not ok. */
START_TEST(test_no_recover_ends_run)
{
	struct sim_config cfg;
	struct sim_result res;
	char err[256];

	test_sim_config(&cfg);
	cfg.devices = SIM_DEV_NULL;
	cfg.requests = 20000;
	cfg.seed = 5;
	cfg.nfaults = 1;
	ck_assert_int_eq(flt_parse("null:avail.idx+=1000@kick:40",
				   &cfg.faults[0], err, sizeof(err)), 0);
	ck_assert_int_eq(sim_run(&cfg, &res), 0);
	expect_stopped_unrecovered(&res, cfg.requests);
}
END_TEST

/* --strict with an injected corruption, through the real command: the
 * process aborts, having written what fired and the decoded ring. */
START_TEST(test_strict_with_fault)
{
	const char *bin = getenv("VQSIM_BIN");
	char errpath[] = "/tmp/vqsim-strict-XXXXXX", *buf;
	int fd = mkstemp(errpath), status;
	long n;
	FILE *f;
	pid_t pid;

	ck_assert_msg(bin != NULL, "VQSIM_BIN is not set (run via make check)");
	ck_assert_int_ge(fd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, 2);
		execl(bin, "vqsim", "--device", "null", "--stepped", "--seed",
		      "9", "--strict", "--fault",
		      "desc[head].next=999@kick:3", (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGABRT);
	f = fdopen(fd, "r");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	unlink(errpath);
	ck_assert_ptr_nonnull(strstr(buf, "--strict: host detected "
				     "desc_next_range on queue null"));
	ck_assert_ptr_nonnull(strstr(buf, "chains to 999, beyond the queue"));
	free(buf);
}
END_TEST

Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("spec");

	tcase_add_loop_test(tc, test_parse_round_trip, 0,
			    sizeof(good) / sizeof(good[0]));
	tcase_add_test(tc, test_parse_fields);
	tcase_add_loop_test(tc, test_parse_errors, 0,
			    sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_apply_resolves_operands);
	tcase_add_test(tc, test_apply_indices);
	tcase_add_test(tc, test_cli_fault_queues);
	tcase_add_test(tc, test_fault_report);
	suite_add_tcase(s, tc);

	tc = tcase_create("inject");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_examples_detect, 0,
			    sizeof(e2e) / sizeof(e2e[0]));
	tcase_add_test(tc, test_strict_with_fault);
	tcase_add_loop_test(tc, test_recover_null, 0, 2);
	tcase_add_test(tc, test_no_recover_ends_run);
	tcase_add_loop_test(tc, test_recover_blk, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("campaign");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_campaign_stepped);
	tcase_add_test(tc, test_campaign_threaded);
	tcase_add_test(tc, test_campaign_shards);
	suite_add_tcase(s, tc);
	return s;
}
