/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Ordered parallel compression (see private.h). A ring of slots: the
 * submitting thread fills slots in order, worker threads take the oldest
 * pending one, and the submitting thread emits finished slots strictly in
 * ring order. Only the submitting thread ever calls emit(), so the backend
 * needs no locking of its own.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "private.h"

enum slot_state { SLOT_FREE, SLOT_PENDING, SLOT_BUSY, SLOT_DONE };

struct slot {
	enum slot_state state;
	uint64_t block;
	uint8_t *in;
	uint8_t *out;
	size_t out_len;
};

struct fmt_pool {
	struct fmt_pool_def def;
	pthread_mutex_t lock;
	pthread_cond_t work; /* a slot became pending, or stop */
	pthread_cond_t done; /* a slot became done */
	struct slot *slots;
	size_t nslots;
	uint64_t submitted; /* slots filled so far */
	uint64_t taken;	    /* slots handed to a worker */
	uint64_t emitted;   /* slots emitted so far */
	bool stop;
	pthread_t *threads;
	unsigned nthreads;
};

static void *worker(void *arg)
{
	struct fmt_pool *p = arg;
	void *codec = p->def.codec_new ? p->def.codec_new(p->def.ctx) : NULL;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct slot *s;

		while (!p->stop && p->taken == p->submitted)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		s = &p->slots[p->taken % p->nslots];
		p->taken++;
		s->state = SLOT_BUSY;
		pthread_mutex_unlock(&p->lock);
		s->out_len = p->def.compress(codec, s->in, p->def.block_size,
					     s->out, p->def.out_cap);
		pthread_mutex_lock(&p->lock);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	if (codec != NULL && p->def.codec_free != NULL)
		p->def.codec_free(codec);
	return NULL;
}

int fmt_pool_new(const struct fmt_pool_def *def, struct fmt_pool **out,
		 struct rf_error *err)
{
	struct fmt_pool *p = rf_xcalloc(1, sizeof(*p));
	int rc = 0;

	*out = NULL;
	p->def = *def;
	if (p->def.threads == 0)
		p->def.threads = 1;
	/* Enough slots that workers rarely wait for the writer. */
	p->nslots = p->def.threads * 8;
	p->slots = rf_xcalloc(p->nslots, sizeof(*p->slots));
	for (size_t i = 0; i < p->nslots; i++) {
		p->slots[i].in = rf_xmalloc(def->block_size);
		p->slots[i].out = rf_xmalloc(def->out_cap);
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = rf_xcalloc(p->def.threads, sizeof(*p->threads));
	for (unsigned i = 0; i < p->def.threads; i++) {
		int e = pthread_create(&p->threads[i], NULL, worker, p);

		if (e != 0) {
			rc = rf_error_errno(err, -e,
					    "Could not start a "
					    "compression thread");
			break;
		}
		p->nthreads++;
	}
	if (rc < 0) {
		fmt_pool_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* Emit the oldest slot; wait for it when wait is true. Lock held. */
static int emit_one(struct fmt_pool *p, bool wait, bool *emitted,
		    struct rf_error *err)
{
	struct slot *s = &p->slots[p->emitted % p->nslots];
	int rc;

	*emitted = false;
	if (p->emitted == p->submitted)
		return 0;
	while (s->state != SLOT_DONE) {
		if (!wait)
			return 0;
		pthread_cond_wait(&p->done, &p->lock);
	}
	/* The slot is ours until marked free: emit without the lock. */
	pthread_mutex_unlock(&p->lock);
	rc = p->def.emit(p->def.ctx, s->block, s->in, p->def.block_size,
			 s->out_len ? s->out : NULL, s->out_len, err);
	pthread_mutex_lock(&p->lock);
	s->state = SLOT_FREE;
	p->emitted++;
	*emitted = true;
	return rc;
}

int fmt_pool_submit(struct fmt_pool *p, uint64_t block, const uint8_t *data,
		    struct rf_error *err)
{
	struct slot *s;
	bool emitted = true;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	/* Write out whatever is ready, and make room when the ring is full. */
	while (rc == 0 && emitted)
		rc = emit_one(p, p->submitted - p->emitted == p->nslots,
			      &emitted, err);
	if (rc < 0)
		goto out;
	s = &p->slots[p->submitted % p->nslots];
	s->block = block;
	s->state = SLOT_PENDING;
	pthread_mutex_unlock(&p->lock);
	memcpy(s->in, data, p->def.block_size);
	pthread_mutex_lock(&p->lock);
	p->submitted++;
	pthread_cond_signal(&p->work);
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int fmt_pool_drain(struct fmt_pool *p, struct rf_error *err)
{
	bool emitted = true;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	while (rc == 0 && p->emitted < p->submitted)
		rc = emit_one(p, true, &emitted, err);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void fmt_pool_free(struct fmt_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	for (size_t i = 0; i < p->nslots; i++) {
		free(p->slots[i].in);
		free(p->slots[i].out);
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p->threads);
	free(p->slots);
	free(p);
}
