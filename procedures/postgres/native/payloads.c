/*
 * sqlml's native payloads: the scoring path's rows in and scores out, in C.
 *
 * ops.column_payloads(VARIADIC "any"): the rows of a query as one payload per column.
 *
 * sqlml's scoring reader (python/sqlml/adapters/postgres.py, read_columns) needs a
 * query's rows in PL/Python as one NumPy array per column. Without this aggregate
 * it asks PostgreSQL for one string_agg per column, and for 200,000 rows of 19
 * columns that costs about 0.3 s: an aggregate transition, an expression and a
 * function call per value. This aggregate does the same work in one transition
 * per row, its columns passed as arguments (VARIADIC "any": no row value is built
 * and taken apart again), so reading the rows costs little more than scanning them.
 *
 * The payloads are exactly what the string_agg reader builds, so the Python side
 * parses both alike:
 *   - a number (smallint, integer, bigint, real, double precision, boolean as 0/1)
 *     as 8 bytes of float8 in this machine's byte order, NaN for NULL;
 *   - text as its values joined by SEPARATOR, NULL written as NULL_MARK.
 * Other types are cast by the caller (numeric to float8, dates to epoch seconds,
 * everything else to text); an argument of any other type is refused. At most
 * FUNC_MAX_ARGS - 1 (99) columns: a wider query is read the string_agg way.
 *
 * The result is one bytea:
 *   int32 version, int32 columns, int64 rows, then per column
 *   int32 kind (0 float8, 1 text), int32 zero, int64 non-NULL values, int64 bytes,
 *   the bytes, and zero padding to a multiple of 8.
 *
 * ops.payload_texts(text) and ops.payload_float8s(bytea), at the end of the file, are
 * the way back: one row per value, for the INSERT that writes a scoring batch.
 *
 * Installed by `sqlml deploy` on a local PostgreSQL (python/sqlml/deploy/native.py),
 * which compiles this file against the server's headers. Like any C function it
 * can only be created by a superuser: only the deploying owner decides that the
 * database runs it. Without it, the reader uses string_agg; the values are the same.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

#define PAYLOAD_VERSION 1
#define SEPARATOR_BYTE '\x1f'
static const char separator = SEPARATOR_BYTE;
static const char null_mark = '\x1e';

typedef enum ColumnKind
{
	KIND_FLOAT8 = 0,
	KIND_TEXT = 1
} ColumnKind;

typedef struct Column
{
	Oid			type;			/* the attribute's type: how a value becomes bytes */
	ColumnKind	kind;
	int64		non_null;
	StringInfoData bytes;
} Column;

typedef struct State
{
	int			count;			/* columns: the aggregate's arguments */
	int64		rows;
	Column		columns[FLEXIBLE_ARRAY_MEMBER];
} State;

PG_FUNCTION_INFO_V1(sqlml_column_payloads_step);
PG_FUNCTION_INFO_V1(sqlml_column_payloads_final);

static ColumnKind
kind_of(Oid type, int argument)
{
	switch (type)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case BOOLOID:
			return KIND_FLOAT8;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return KIND_TEXT;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("sqlml: ops.column_payloads cannot read argument %d of type %s",
							argument, format_type_be(type)),
					 errhint("Cast it to float8 or text.")));
	}
	return KIND_TEXT;			/* not reached */
}

/* The state for this call's columns, their types taken from the call itself. */
static State *
new_state(FunctionCallInfo fcinfo, MemoryContext context)
{
	int			count = PG_NARGS() - 1;
	MemoryContext old = MemoryContextSwitchTo(context);
	State	   *state = palloc0(offsetof(State, columns) + count * sizeof(Column));
	int			i;

	state->count = count;
	for (i = 0; i < count; i++)
	{
		Oid			type = get_fn_expr_argtype(fcinfo->flinfo, i + 1);

		if (!OidIsValid(type))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("sqlml: ops.column_payloads cannot tell the type of argument %d",
							i + 1)));
		state->columns[i].type = type;
		state->columns[i].kind = kind_of(type, i + 1);
		initStringInfo(&state->columns[i].bytes);
	}
	MemoryContextSwitchTo(old);
	return state;
}

static inline double
as_float8(Oid type, Datum value)
{
	switch (type)
	{
		case INT2OID:
			return (double) DatumGetInt16(value);
		case INT4OID:
			return (double) DatumGetInt32(value);
		case INT8OID:
			return (double) DatumGetInt64(value);
		case FLOAT4OID:
			return (double) DatumGetFloat4(value);
		case BOOLOID:
			return DatumGetBool(value) ? 1.0 : 0.0;
		default:
			return DatumGetFloat8(value);
	}
}

/* appendBinaryStringInfo without its function calls and terminating NUL: the
 * payloads are bytes, and this runs for every value of every row */
static inline void
put(StringInfo buffer, const char *bytes, int count)
{
	if (unlikely(buffer->len + count >= buffer->maxlen))
		enlargeStringInfo(buffer, count);
	memcpy(buffer->data + buffer->len, bytes, count);
	buffer->len += count;
}

static inline void
append_value(Column *column, bool first_row, bool is_null, Datum value)
{
	if (column->kind == KIND_FLOAT8)
	{
		double		number = is_null ? NAN : as_float8(column->type, value);

		put(&column->bytes, (const char *) &number, sizeof(number));
		column->non_null += !is_null;
		return;
	}
	if (!first_row)
		put(&column->bytes, &separator, 1);
	if (is_null)
		put(&column->bytes, &null_mark, 1);
	else
	{
		/* short and compressed values are read in place or expanded here, in the
		 * per-row memory the executor resets */
		text	   *t = DatumGetTextPP(value);

		put(&column->bytes, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		column->non_null++;
	}
}

Datum
sqlml_column_payloads_step(PG_FUNCTION_ARGS)
{
	MemoryContext context;
	State	   *state = PG_ARGISNULL(0) ? NULL : (State *) PG_GETARG_POINTER(0);
	int			i;

	if (!AggCheckCallContext(fcinfo, &context))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("sqlml: ops.column_payloads_step is called by its aggregate only")));
	if (state == NULL)
		state = new_state(fcinfo, context);
	for (i = 0; i < state->count; i++)
		append_value(&state->columns[i], state->rows == 0, PG_ARGISNULL(i + 1),
					 PG_GETARG_DATUM(i + 1));
	state->rows++;
	PG_RETURN_POINTER(state);
}

static void
append_int32(StringInfo out, int32 value)
{
	appendBinaryStringInfo(out, (const char *) &value, sizeof(value));
}

static void
append_int64(StringInfo out, int64 value)
{
	appendBinaryStringInfo(out, (const char *) &value, sizeof(value));
}

Datum
sqlml_column_payloads_final(PG_FUNCTION_ARGS)
{
	State	   *state = (State *) PG_GETARG_POINTER(0);
	Size		size = 16;
	StringInfoData out;
	bytea	   *result;
	int			i;

	for (i = 0; i < state->count; i++)
		size += 24 + TYPEALIGN(8, state->columns[i].bytes.len);
	if (size > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sqlml: the input is too large to read in one call (%zu bytes of values)",
						size),
				 errhint("Score it in parts, for instance by ranges of the id column.")));

	/* the bytea's header first, then the payload written straight behind it */
	initStringInfo(&out);
	enlargeStringInfo(&out, VARHDRSZ + size);
	out.len = VARHDRSZ;
	append_int32(&out, PAYLOAD_VERSION);
	append_int32(&out, state->count);
	append_int64(&out, state->rows);
	for (i = 0; i < state->count; i++)
	{
		Column	   *column = &state->columns[i];
		static const char zeros[8] = {0};

		append_int32(&out, column->kind);
		append_int32(&out, 0);
		append_int64(&out, column->non_null);
		append_int64(&out, column->bytes.len);
		appendBinaryStringInfo(&out, column->bytes.data, column->bytes.len);
		appendBinaryStringInfo(&out, zeros, TYPEALIGN(8, column->bytes.len) - column->bytes.len);
	}
	result = (bytea *) out.data;
	SET_VARSIZE(result, out.len);
	PG_RETURN_BYTEA_P(result);
}

/*
 * ops.payload_texts(text) and ops.payload_float8s(bytea): the way back, one row per
 * value, for the INSERT that writes a scoring batch (adapters/postgres.write_scores):
 * the ids as one text of values joined by SEPARATOR, the scores as 8 bytes of
 * float8 each, in this machine's byte order. Both return a value per call, so in a
 * SELECT list they run side by side without a tuplestore, and the scores are never
 * printed and parsed. NULL in, no rows out.
 */
PG_FUNCTION_INFO_V1(sqlml_payload_texts);
PG_FUNCTION_INFO_V1(sqlml_payload_float8s);

typedef struct TextCursor
{
	const char *next;			/* the next value's first byte */
	const char *end;
	bool		done;
} TextCursor;

Datum
sqlml_payload_texts(PG_FUNCTION_ARGS)
{
	FuncCallContext *call;
	TextCursor *cursor;
	const char *cut;
	const char *value;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		text	   *payload;

		call = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(call->multi_call_memory_ctx);
		payload = PG_GETARG_TEXT_PP(0);
		cursor = palloc(sizeof(TextCursor));
		cursor->next = VARDATA_ANY(payload);
		cursor->end = cursor->next + VARSIZE_ANY_EXHDR(payload);
		cursor->done = false;
		call->user_fctx = cursor;
		MemoryContextSwitchTo(old);
	}
	call = SRF_PERCALL_SETUP();
	cursor = (TextCursor *) call->user_fctx;
	if (cursor->done)
		SRF_RETURN_DONE(call);
	value = cursor->next;
	cut = memchr(value, SEPARATOR_BYTE, cursor->end - value);
	if (cut == NULL)
	{
		cut = cursor->end;		/* the last value: an empty payload is one empty value */
		cursor->done = true;
	}
	cursor->next = cut + 1;
	SRF_RETURN_NEXT(call, PointerGetDatum(cstring_to_text_with_len(value, cut - value)));
}

Datum
sqlml_payload_float8s(PG_FUNCTION_ARGS)
{
	FuncCallContext *call;
	bytea	   *payload;
	double		value;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;

		call = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(call->multi_call_memory_ctx);
		payload = PG_GETARG_BYTEA_PP(0);
		if (VARSIZE_ANY_EXHDR(payload) % sizeof(double) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sqlml: ops.payload_float8s takes 8 bytes per value, not %zu bytes",
							(Size) VARSIZE_ANY_EXHDR(payload))));
		call->user_fctx = payload;
		call->max_calls = VARSIZE_ANY_EXHDR(payload) / sizeof(double);
		MemoryContextSwitchTo(old);
	}
	call = SRF_PERCALL_SETUP();
	if (call->call_cntr >= call->max_calls)
		SRF_RETURN_DONE(call);
	payload = (bytea *) call->user_fctx;
	memcpy(&value, VARDATA_ANY(payload) + call->call_cntr * sizeof(double), sizeof(double));
	SRF_RETURN_NEXT(call, Float8GetDatum(value));
}
