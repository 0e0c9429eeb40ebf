/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fcgi.h -- the FastCGI 1.0 wire codec, with no I/O: constants, tiny
 * encoders, a resumable byte-wise record parser and a bounded name-value
 * pair decoder.  Section numbers refer to the FastCGI Specification 1.0
 * (Open Market, 1996).
 */

#ifndef DROVER_FCGI_H
#define DROVER_FCGI_H

#include <stddef.h>
#include <stdint.h>

/* 3.3: every record starts with an 8-byte header */
#define DROVER_FCGI_HEADER_LEN        8
#define DROVER_FCGI_VERSION_1         1
#define DROVER_FCGI_MAX_CONTENT       65535
#define DROVER_FCGI_MAX_PADDING       255

/* 8: record types */
#define DROVER_FCGI_BEGIN_REQUEST     1
#define DROVER_FCGI_ABORT_REQUEST     2
#define DROVER_FCGI_END_REQUEST       3
#define DROVER_FCGI_PARAMS            4
#define DROVER_FCGI_STDIN             5
#define DROVER_FCGI_STDOUT            6
#define DROVER_FCGI_STDERR            7
#define DROVER_FCGI_DATA              8
#define DROVER_FCGI_GET_VALUES        9
#define DROVER_FCGI_GET_VALUES_RESULT 10
#define DROVER_FCGI_UNKNOWN_TYPE      11

/* 5.1: roles and flags of FCGI_BEGIN_REQUEST */
#define DROVER_FCGI_RESPONDER         1
#define DROVER_FCGI_AUTHORIZER        2
#define DROVER_FCGI_FILTER            3
#define DROVER_FCGI_KEEP_CONN         1

/* 5.5: protocolStatus of FCGI_END_REQUEST */
#define DROVER_FCGI_REQUEST_COMPLETE  0
#define DROVER_FCGI_CANT_MPX_CONN     1
#define DROVER_FCGI_OVERLOADED        2
#define DROVER_FCGI_UNKNOWN_ROLE      3

/* 3.4: a pair length is 1 byte (< 128) or 4 bytes with the high bit set */
#define DROVER_FCGI_PAIR_LEN_MAX      0x7fffffffu

/*
 * Bounds on one request's FCGI_PARAMS stream.  A single name or value is
 * bounded by the total: a pair never reaches past the bytes received.
 */
#define DROVER_FCGI_PARAMS_MAX        (128 * 1024)
#define DROVER_FCGI_PARAMS_COUNT_MAX  1024

/* the fixed content length of BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE */
#define DROVER_FCGI_BODY_LEN          8


/* ---- encoders ---- */

/* 3.3: the record header; content_len <= 65535, padding <= 255 */
void drover_fcgi_header_encode(uint8_t out[DROVER_FCGI_HEADER_LEN],
    unsigned type, unsigned request_id, size_t content_len,
    unsigned padding_len);

/* padding that makes content_len a multiple of 8 (3.3 recommends it) */
unsigned drover_fcgi_padding(size_t content_len);

/* 3.4: writes 1 or 4 bytes and returns that, or 0 when len is too big */
size_t drover_fcgi_pair_len_encode(uint8_t out[4], size_t len);

/*
 * 3.4: one name-value pair into out; returns the bytes written, or 0 when
 * it does not fit in size or a length is too big.
 */
size_t drover_fcgi_pair_encode(uint8_t *out, size_t size, const char *name,
    size_t name_len, const char *value, size_t value_len);

/* 5.1: FCGI_BeginRequestBody */
void drover_fcgi_begin_request_encode(uint8_t out[DROVER_FCGI_BODY_LEN],
    unsigned role, unsigned flags);

/* 5.5: FCGI_EndRequestBody */
void drover_fcgi_end_request_encode(uint8_t out[DROVER_FCGI_BODY_LEN],
    uint32_t app_status, unsigned protocol_status);

/* 4.2: FCGI_UnknownTypeBody */
void drover_fcgi_unknown_type_encode(uint8_t out[DROVER_FCGI_BODY_LEN],
    unsigned type);


typedef struct {
    const char  *name;
    const char  *value;
} drover_fcgi_value_t;

/*
 * 4.1: the content of FCGI_GET_VALUES_RESULT for the FCGI_GET_VALUES
 * content `query`: a pair for each name asked for that `values` knows,
 * in the order asked.  Returns the content length, or a negative code:
 * -EBADMSG when the query is malformed, -ENOBUFS when out is too small.
 */
int drover_fcgi_get_values_result(const uint8_t *query, size_t query_len,
    const drover_fcgi_value_t *values, size_t nvalues, uint8_t *out,
    size_t size);


/* ---- record parser ---- */

enum {
    DROVER_FCGI_EV_AGAIN = 0,    /* all input consumed: feed more */
    DROVER_FCGI_EV_HEADER,       /* a header: type, request_id, lengths */
    DROVER_FCGI_EV_CONTENT,      /* a piece of the content: data, len */
    DROVER_FCGI_EV_END           /* the record's content and padding done */
};

typedef struct {
    /* private: the state and the header bytes as they arrive */
    unsigned     state;
    unsigned     id_hi;
    unsigned     len_hi;

    /* the current record, valid from EV_HEADER to the next header */
    unsigned     version;
    unsigned     type;
    unsigned     request_id;
    size_t       content_length;
    unsigned     padding_length;

    size_t       content_left;
    unsigned     padding_left;
} drover_fcgi_parser_t;

typedef struct {
    const uint8_t  *data;        /* EV_CONTENT: points into the input */
    size_t          len;
} drover_fcgi_event_t;

void drover_fcgi_parser_init(drover_fcgi_parser_t *p);

/*
 * Consume input from *pos up to end and return the next event (>= 0),
 * advancing *pos; the input may be split anywhere.  A record with no
 * content and no padding yields EV_HEADER then EV_END with no byte between.
 * Returns -EPROTO for a version other than 1 and -EBADMSG for a content
 * length its type does not allow (4.2, 5.1, 5.4, 5.5); errors are sticky.
 */
int drover_fcgi_parse(drover_fcgi_parser_t *p, const uint8_t **pos,
    const uint8_t *end, drover_fcgi_event_t *ev);

/* 1 between records: no part of a record is pending */
int drover_fcgi_parser_idle(const drover_fcgi_parser_t *p);


/* ---- name-value pairs ---- */

/*
 * 3.4: the length at buf + *off (1 or 4 bytes).  Returns 1 and advances
 * *off past it, or 0 when it does not end before len.
 */
int drover_fcgi_pair_len_decode(const uint8_t *buf, size_t len, size_t *off,
    size_t *value);

/*
 * The pair at buf + *off: its lengths, with the name at *off after the call
 * and the value right after it.  Returns 1 and advances *off past the pair,
 * 0 at the end of buf, -EBADMSG when the pair is truncated or reaches past
 * len.  Overflow-safe for any lengths.
 */
int drover_fcgi_pair_decode(const uint8_t *buf, size_t len, size_t *off,
    size_t *name_len, size_t *value_len);

typedef struct {
    const char  *name;
    const char  *value;
    uint32_t     name_len;
    uint32_t     value_len;
} drover_fcgi_param_t;

/*
 * Decode a whole FCGI_PARAMS stream in place: the names and values become
 * NUL-terminated strings inside buf (a pair's length prefix is always at
 * least the room its two NULs take).  At most `max` pairs.  Returns 0 and
 * *count, or -E2BIG for more than max pairs or len past
 * DROVER_FCGI_PARAMS_MAX, -EBADMSG for a malformed stream or a NUL byte in
 * a name or value.
 */
int drover_fcgi_params_decode(uint8_t *buf, size_t len,
    drover_fcgi_param_t *params, size_t max, size_t *count);

#endif /* DROVER_FCGI_H */
