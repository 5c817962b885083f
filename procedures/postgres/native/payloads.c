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
 * The payloads are what the string_agg reader builds, so the Python side parses
 * both alike:
 *   - a number (smallint, integer, bigint, real, double precision, boolean as 0/1)
 *     as 8 bytes of float8 in this machine's byte order, NaN for NULL;
 *   - text as its values joined by SEPARATOR, NULL written as NULL_MARK.
 * A text column of at most CODE_MAX_DISTINCT distinct values (NULL counted as one)
 * of at most CODE_MAX_BYTES bytes, none holding SEPARATOR or NULL_MARK, is also
 * coded as it is read: its distinct values in order of first appearance and one
 * byte per row, its position among them. That is what the Python reader would
 * otherwise compute from the payload with NumPy (adapters/text_payload.code, whose
 * limits these are), at a tenth of the cost; from CODE_MIN_ROWS rows on, a coded
 * column's payload is left out.
 * Other types are cast by the caller (numeric to float8, dates to epoch seconds,
 * everything else to text); an argument of any other type is refused. At most
 * FUNC_MAX_ARGS - 1 (99) columns: a wider query is read the string_agg way.
 *
 * The result is one bytea:
 *   int32 version, int32 columns, int64 rows, then per column
 *   int32 kind (0 float8, 1 text), int32 distinct values (-1: not coded),
 *   int64 non-NULL values, int64 payload bytes, the payload; and when coded,
 *   int64 bytes of the distinct values (joined by SEPARATOR, NULL as NULL_MARK),
 *   those bytes, and one code byte per row. Each part is zero-padded to a
 *   multiple of 8 bytes.
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

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

#define PAYLOAD_VERSION 2
#define SEPARATOR_BYTE '\x1f'
static const char separator = SEPARATOR_BYTE;
#define NULL_MARK_BYTE '\x1e'
static const char null_mark = NULL_MARK_BYTE;

/* adapters/text_payload.py: MAX_DISTINCT, MAX_BYTES, MIN_ROWS */
#define CODE_MAX_DISTINCT 64
#define CODE_MAX_BYTES 32
#define CODE_MIN_ROWS 1000
#define CODE_SLOTS 128			/* open addressing: twice the most distinct values */

#define CODE_WORDS (CODE_MAX_BYTES / 8)

/* A text column's distinct values so far, and each row's code. A value is compared
 * by its length, whether it is NULL, and four 8-byte words that hold every one of
 * its bytes (value_words), so two values of one length are equal exactly when
 * their words are. */
typedef struct Dictionary
{
	bool		coding;			/* false once a value does not fit */
	int			distinct;
	int16		slot_code[CODE_SLOTS];	/* -1: empty */
	bool		is_null[CODE_MAX_DISTINCT];
	uint8		length[CODE_MAX_DISTINCT];
	uint64		words[CODE_MAX_DISTINCT][CODE_WORDS];
	char		value[CODE_MAX_DISTINCT][CODE_MAX_BYTES];
	StringInfoData codes;
} Dictionary;

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
	Dictionary *dictionary;		/* text columns */
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
		case VARCHAROID:		/* char(n) is not here: its cast to text drops the padding */
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

/* The state for columns of these types, in context. */
static State *
new_state_of(int count, const Oid *types, MemoryContext context)
{
	MemoryContext old = MemoryContextSwitchTo(context);
	State	   *state = palloc0(offsetof(State, columns) + count * sizeof(Column));
	int			i;

	state->count = count;
	for (i = 0; i < count; i++)
	{
		state->columns[i].type = types[i];
		state->columns[i].kind = kind_of(types[i], i + 1);
		initStringInfo(&state->columns[i].bytes);
		if (state->columns[i].kind == KIND_TEXT)
		{
			Dictionary *dictionary = palloc0(sizeof(Dictionary));

			dictionary->coding = true;
			memset(dictionary->slot_code, -1, sizeof(dictionary->slot_code));
			initStringInfo(&dictionary->codes);
			state->columns[i].dictionary = dictionary;
		}
	}
	MemoryContextSwitchTo(old);
	return state;
}

/* The state for this call's columns, their types taken from the call itself. */
static State *
new_state(FunctionCallInfo fcinfo, MemoryContext context)
{
	int			count = PG_NARGS() - 1;
	Oid		   *types = palloc(Max(count, 1) * sizeof(Oid));
	int			i;

	for (i = 0; i < count; i++)
	{
		types[i] = get_fn_expr_argtype(fcinfo->flinfo, i + 1);
		if (!OidIsValid(types[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("sqlml: ops.column_payloads cannot tell the type of argument %d",
							i + 1)));
	}
	return new_state_of(count, types, context);
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

static inline uint64
load8(const char *bytes)
{
	uint64		word;

	memcpy(&word, bytes, sizeof(word));
	return word;
}

static inline uint64
load4(const char *bytes)
{
	uint32		word;

	memcpy(&word, bytes, sizeof(word));
	return word;
}

/* A value of count <= CODE_MAX_BYTES bytes as words that hold every byte, read with
 * whole-word loads that never pass its end (copying it to a zeroed buffer first
 * would stall each load behind the copy's byte stores): whole words, then the
 * last 8 bytes for a partial one; below 8 bytes, overlapping halves. */
static inline void
value_words(const char *bytes, int count, uint64 words[CODE_WORDS])
{
	int			j;

	for (j = 0; j < CODE_WORDS; j++)
		words[j] = 0;
	if (count >= 8)
	{
		for (j = 0; j < CODE_WORDS; j++)
		{
			if (8 * j + 8 <= count)
				words[j] = load8(bytes + 8 * j);
			else if (8 * j < count)
				words[j] = load8(bytes + count - 8);
		}
	}
	else if (count >= 4)
		words[0] = load4(bytes) | (load4(bytes + count - 4) << 32);
	else if (count > 0)
		words[0] = (uint64) (uint8) bytes[0] | ((uint64) (uint8) bytes[count / 2] << 8)
			| ((uint64) (uint8) bytes[count - 1] << 16);
}

/* The row's code for a text value (or NULL), adding the value when it is new;
 * coding stops for good at a value that does not fit. Values holding SEPARATOR or
 * NULL_MARK are coded here and refused in the final function, which looks at each
 * distinct value once. */
static inline void
code_value(Dictionary *dictionary, const char *bytes, int count, bool is_null)
{
	uint64		words[CODE_WORDS];
	uint64		hash;
	int			slot;
	uint8		code;

	if (count > CODE_MAX_BYTES)
	{
		dictionary->coding = false;
		return;
	}
	value_words(bytes, count, words);
	hash = (words[0] * UINT64CONST(0x9E3779B97F4A7C15))
		^ (words[1] * UINT64CONST(0xC2B2AE3D27D4EB4F))
		^ (words[2] * UINT64CONST(0x165667B19E3779F9))
		^ (words[3] * UINT64CONST(0x27D4EB2F165667C5))
		^ ((uint64) count << 1) ^ (uint64) is_null;
	hash ^= hash >> 29;
	for (slot = (int) (hash & (CODE_SLOTS - 1));; slot = (slot + 1) & (CODE_SLOTS - 1))
	{
		int			found = dictionary->slot_code[slot];
		uint64	   *known;

		if (found < 0)
			break;
		known = dictionary->words[found];
		if (dictionary->length[found] == count && dictionary->is_null[found] == is_null
			&& known[0] == words[0] && known[1] == words[1]
			&& known[2] == words[2] && known[3] == words[3])
		{
			code = (uint8) found;
			put(&dictionary->codes, (const char *) &code, 1);
			return;
		}
	}
	if (dictionary->distinct == CODE_MAX_DISTINCT)
	{
		dictionary->coding = false;
		return;
	}
	code = (uint8) dictionary->distinct++;
	dictionary->slot_code[slot] = code;
	dictionary->is_null[code] = is_null;
	dictionary->length[code] = (uint8) count;
	memcpy(dictionary->words[code], words, sizeof(words));
	if (count > 0)
		memcpy(dictionary->value[code], bytes, count);
	put(&dictionary->codes, (const char *) &code, 1);
}

/* At the end: a coded column whose distinct values hold SEPARATOR or NULL_MARK goes
 * out as its payload instead, for the Python reader to handle as the string_agg
 * reader's (adapters/text_payload.column). */
static void
check_codes(Dictionary *dictionary)
{
	int			code;

	for (code = 0; code < dictionary->distinct && dictionary->coding; code++)
	{
		const char *value = dictionary->value[code];

		if (memchr(value, SEPARATOR_BYTE, dictionary->length[code]) != NULL
			|| memchr(value, NULL_MARK_BYTE, dictionary->length[code]) != NULL)
			dictionary->coding = false;
	}
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
	{
		put(&column->bytes, &null_mark, 1);
		if (column->dictionary->coding)
			code_value(column->dictionary, NULL, 0, true);
	}
	else
	{
		/* short and compressed values are read in place or expanded here, in the
		 * per-row memory the executor resets */
		text	   *t = DatumGetTextPP(value);

		put(&column->bytes, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		if (column->dictionary->coding)
			code_value(column->dictionary, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), false);
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

static void
append_padded(StringInfo out, const char *bytes, Size count)
{
	static const char zeros[8] = {0};

	appendBinaryStringInfo(out, bytes, count);
	appendBinaryStringInfo(out, zeros, TYPEALIGN(8, count) - count);
}

/* Whether the column goes out coded, and then whether its payload goes too. */
static bool
is_coded(Column *column)
{
	return column->kind == KIND_TEXT && column->dictionary->coding;
}

static bool
keeps_payload(Column *column, int64 rows)
{
	return !is_coded(column) || rows < CODE_MIN_ROWS;
}

/* The bytea of a state's rows (the layout at the top of this file). */
static bytea *
payloads_bytea(State *state)
{
	Size		size = 16;
	StringInfoData out;
	StringInfoData values;
	bytea	   *result;
	int			i;
	int			code;

	for (i = 0; i < state->count; i++)
	{
		Column	   *column = &state->columns[i];

		if (column->kind == KIND_TEXT)
			check_codes(column->dictionary);
		size += 24;
		if (keeps_payload(column, state->rows))
			size += TYPEALIGN(8, column->bytes.len);
		if (is_coded(column))
			size += 8 + TYPEALIGN(8, CODE_MAX_DISTINCT * (CODE_MAX_BYTES + 1))
				+ TYPEALIGN(8, column->dictionary->codes.len);
	}
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
	initStringInfo(&values);
	for (i = 0; i < state->count; i++)
	{
		Column	   *column = &state->columns[i];
		Dictionary *dictionary = column->dictionary;
		bool		payload = keeps_payload(column, state->rows);

		append_int32(&out, column->kind);
		append_int32(&out, is_coded(column) ? dictionary->distinct : -1);
		append_int64(&out, column->non_null);
		append_int64(&out, payload ? column->bytes.len : 0);
		if (payload)
			append_padded(&out, column->bytes.data, column->bytes.len);
		if (!is_coded(column))
			continue;
		resetStringInfo(&values);
		for (code = 0; code < dictionary->distinct; code++)
		{
			if (code > 0)
				appendStringInfoChar(&values, SEPARATOR_BYTE);
			if (dictionary->is_null[code])
				appendStringInfoChar(&values, NULL_MARK_BYTE);
			else
				appendBinaryStringInfo(&values, dictionary->value[code], dictionary->length[code]);
		}
		append_int64(&out, values.len);
		append_padded(&out, values.data, values.len);
		append_padded(&out, dictionary->codes.data, dictionary->codes.len);
	}
	result = (bytea *) out.data;
	SET_VARSIZE(result, out.len);
	return result;
}

Datum
sqlml_column_payloads_final(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(payloads_bytea((State *) PG_GETARG_POINTER(0)));
}

/*
 * ops.cursor_payloads(cursor_name text, max_rows bigint): the next max_rows rows (or
 * fewer, at the end) of an open cursor, as the bytea ops.column_payloads builds for
 * the same rows; its columns are what the cursor's query returns, of the types the
 * aggregate takes.
 *
 * Scoring reads its input in batches (adapters/postgres.py, BatchReader): the
 * caller's half declares a cursor over the caller's query and takes one batch at a
 * time through this function, so memory holds a batch, never the table. The rows
 * are fetched in the caller's session with the current user's rights (the caller's:
 * only ops.stage_input, SECURITY INVOKER, calls it), a few hundred at a time, and
 * each fetch's tuples are freed once their values are in the payloads.
 */
#define CURSOR_FETCH_ROWS 1000

PG_FUNCTION_INFO_V1(sqlml_cursor_payloads);

Datum
sqlml_cursor_payloads(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		max_rows = PG_GETARG_INT64(1);
	MemoryContext caller = CurrentMemoryContext;
	State	   *state = NULL;
	Portal		portal;
	bytea	   *result;

	if (max_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sqlml: ops.cursor_payloads reads at least 1 row a batch; got %lld",
						(long long) max_rows)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "sqlml: ops.cursor_payloads could not connect to SPI");
	portal = SPI_cursor_find(name);
	if (portal == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_CURSOR),
				 errmsg("sqlml: cursor \"%s\" does not exist", name)));
	for (;;)
	{
		int64		want = Min((int64) CURSOR_FETCH_ROWS, max_rows - (state ? state->rows : 0));
		TupleDesc	desc;
		uint64		row;
		int			i;

		if (want <= 0)
			break;
		SPI_cursor_fetch(portal, true, (long) want);
		desc = SPI_tuptable->tupdesc;
		if (state == NULL)
		{
			Oid		   *types = palloc(Max(desc->natts, 1) * sizeof(Oid));

			for (i = 0; i < desc->natts; i++)
				types[i] = TupleDescAttr(desc, i)->atttypid;
			state = new_state_of(desc->natts, types, caller);
		}
		for (row = 0; row < SPI_processed; row++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[row];

			for (i = 0; i < state->count; i++)
			{
				bool		is_null;
				Datum		value = SPI_getbinval(tuple, desc, i + 1, &is_null);

				append_value(&state->columns[i], state->rows == 0, is_null, value);
			}
			state->rows++;
		}
		SPI_freetuptable(SPI_tuptable);
		if ((int64) SPI_processed < want)
			break;
	}
	/* the payloads live in the caller's context; SPI's own goes with SPI_finish */
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		result = payloads_bytea(state);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
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
