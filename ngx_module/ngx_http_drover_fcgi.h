
/*
 * Copyright (C) 2026 the Drover authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Drover: FastCGI 1.0 record encoding and the resumable response parser.
 *
 * Section numbers refer to the FastCGI Specification 1.0
 * (Open Market, 1996).
 */


#ifndef _NGX_HTTP_DROVER_FCGI_H_INCLUDED_
#define _NGX_HTTP_DROVER_FCGI_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* 8: FCGI_VERSION_1 and the record types */
#define NGX_HTTP_DROVER_FCGI_VERSION         1

#define NGX_HTTP_DROVER_FCGI_BEGIN_REQUEST   1
#define NGX_HTTP_DROVER_FCGI_ABORT_REQUEST   2
#define NGX_HTTP_DROVER_FCGI_END_REQUEST     3
#define NGX_HTTP_DROVER_FCGI_PARAMS          4
#define NGX_HTTP_DROVER_FCGI_STDIN           5
#define NGX_HTTP_DROVER_FCGI_STDOUT          6
#define NGX_HTTP_DROVER_FCGI_STDERR          7

/* 5.1: the role and the flag of FCGI_BeginRequestBody */
#define NGX_HTTP_DROVER_FCGI_RESPONDER       1
#define NGX_HTTP_DROVER_FCGI_KEEP_CONN       1

/* 5.5: protocolStatus of FCGI_EndRequestBody */
#define NGX_HTTP_DROVER_FCGI_REQUEST_COMPLETE  0
#define NGX_HTTP_DROVER_FCGI_CANT_MPX_CONN     1
#define NGX_HTTP_DROVER_FCGI_OVERLOADED        2
#define NGX_HTTP_DROVER_FCGI_UNKNOWN_ROLE      3

/* 3.3: the fixed-length prefix of every record */
#define NGX_HTTP_DROVER_FCGI_HEADER_LEN      8

/* 5.5: the body of FCGI_END_REQUEST */
#define NGX_HTTP_DROVER_FCGI_END_BODY_LEN    8

/*
 * The one request id used on every connection: a connection carries one
 * request at a time (FCGI_MPXS_CONNS is never assumed).
 */
#define NGX_HTTP_DROVER_FCGI_REQUEST_ID      1

/*
 * The content of a record we send is at most 65528 bytes: the largest
 * multiple of 8 below 65536 (3.3), so that only the last record of
 * a stream needs padding.
 */
#define NGX_HTTP_DROVER_FCGI_RECORD_MAX      65528

/* 16 bytes: FCGI_BEGIN_REQUEST header and body (5.1) */
#define NGX_HTTP_DROVER_FCGI_BEGIN_LEN       16


typedef enum {
    ngx_http_drover_fcgi_st_version = 0,
    ngx_http_drover_fcgi_st_type,
    ngx_http_drover_fcgi_st_request_id_hi,
    ngx_http_drover_fcgi_st_request_id_lo,
    ngx_http_drover_fcgi_st_content_length_hi,
    ngx_http_drover_fcgi_st_content_length_lo,
    ngx_http_drover_fcgi_st_padding_length,
    ngx_http_drover_fcgi_st_reserved,
    ngx_http_drover_fcgi_st_data,
    ngx_http_drover_fcgi_st_padding
} ngx_http_drover_fcgi_state_e;


/*
 * The response parser.  It reads one byte at a time and keeps everything
 * it needs between calls here, so a record may be split anywhere across
 * reads.  The header fields are kept as the _hi/_lo bytes of the wire.
 */

typedef struct {
    ngx_http_drover_fcgi_state_e   state;

    u_char                         type;
    u_char                         request_id_hi;
    u_char                         request_id_lo;
    u_char                         content_length_hi;
    u_char                         content_length_lo;
    u_char                         padding_length;

    /* content and padding bytes of the current record not yet read */
    size_t                         length;
    size_t                         padding;

    /* FCGI_EndRequestBody (5.5), byte by byte */
    ngx_uint_t                     end_body_read;
    u_char                         app_status[4];
    u_char                         protocol_status;

    unsigned                       stdout_closed:1;
    unsigned                       end_request:1;
} ngx_http_drover_fcgi_parser_t;


/*
 * Writes one stream (5.2: FCGI_PARAMS, FCGI_STDIN) of a known length into
 * a buffer as a sequence of records, adding record headers and padding as
 * the content is copied in.
 */

typedef struct {
    u_char                        *pos;
    size_t                         record_left;
    size_t                         stream_left;
    size_t                         padding;
    u_char                         type;
} ngx_http_drover_fcgi_stream_t;


ngx_int_t ngx_http_drover_fcgi_parse(ngx_http_drover_fcgi_parser_t *p,
    u_char **pos, u_char *last, ngx_str_t *data, ngx_log_t *log);
void ngx_http_drover_fcgi_unread(ngx_http_drover_fcgi_parser_t *p, size_t n);

size_t ngx_http_drover_fcgi_padding(size_t len);
u_char *ngx_http_drover_fcgi_write_header(u_char *p, ngx_uint_t type,
    size_t len, size_t padding);
u_char *ngx_http_drover_fcgi_write_begin(u_char *p, ngx_uint_t keep_conn);

size_t ngx_http_drover_fcgi_pair_lengths(u_char *p, size_t key_len,
    size_t value_len);
u_char *ngx_http_drover_fcgi_write_params(u_char *p, ngx_array_t *pairs,
    size_t len);

size_t ngx_http_drover_fcgi_stream_size(size_t len);
void ngx_http_drover_fcgi_stream_init(ngx_http_drover_fcgi_stream_t *s,
    u_char *p, ngx_uint_t type, size_t len);
void ngx_http_drover_fcgi_stream_write(ngx_http_drover_fcgi_stream_t *s,
    u_char *data, size_t len);


/*
 * 3.4: a length up to 127 takes one byte, a longer one four; inline, as
 * it is added up for every parameter of every request
 */

static ngx_inline size_t
ngx_http_drover_fcgi_pair_size(size_t key_len, size_t value_len)
{
    return (key_len > 127 ? 4 : 1) + (value_len > 127 ? 4 : 1)
           + key_len + value_len;
}


#endif /* _NGX_HTTP_DROVER_FCGI_H_INCLUDED_ */
