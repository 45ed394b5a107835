{#- Personal data (names, emails, phones, street) leaves staging only as a keyed hash:
    HMAC-SHA256 (RFC 2104) under the secret key PII_HASH_KEY, as 64 lower-case hex characters.
    Without the key nobody can rebuild the hashes from a list of likely names, so a reader of the
    marts cannot reverse them; with it the pipeline still joins and deduplicates on them.

    Normalisation, identical on every engine (tests/test_security_pii.py checks the bytes against
    Python's hmac on DuckDB, PostgreSQL and Spark): the value is cast to text, leading and
    trailing spaces (U+0020 only) are removed and the ASCII letters A-Z lower-cased; nothing else
    changes (no Unicode case folding: engines disagree on it), and the UTF-8 bytes are hashed.
    So ` Ann.Lee1@Example.COM` and `ann.lee1@example.com` hash the same. Null stays null.

    The key: 64 to 128 hex characters (32 to 64 bytes), from the environment only; it is read
    when a model runs, never while parsing. The engine hashes with its own sha256 over bytes:
    HMAC(k, m) = sha256((k xor opad) || sha256((k xor ipad) || m)), the padded key's two
    XORs computed here at compile time (so no engine needs an HMAC function or an extension).
    They end up in the compiled SQL (target/, dbt's debug log): pipeline-side files, as
    private as bronze, which holds the same data in clear. A new key changes every hash: see
    README.md, Security, for the models to rebuild. -#}
{% macro hash_pii(column) -%}
    {%- set pads = pii_hash_pads() -%}
    {{ adapter.dispatch('hmac_sha256_hex', 'analytics_platform')(normalize_pii(column), pads.inner, pads.outer) }}
{%- endmacro %}


{#- The text that is hashed: trimmed of spaces, A-Z lower-cased (see above). translate() does
    exactly that everywhere but is slow (4-5 times lower() on DuckDB and PostgreSQL), so the
    engines below take a faster road to the same text. -#}
{% macro normalize_pii(column) -%}
    {{ return(adapter.dispatch('normalize_pii', 'analytics_platform')(column)) }}
{%- endmacro %}

{% macro default__normalize_pii(column) -%}
    trim({{ translate_a_to_z('cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')') }})
{%- endmacro %}

{#- lower() under the C collation folds A-Z only, whatever the database's collation -#}
{% macro postgres__normalize_pii(column) -%}
    trim(lower(cast({{ column }} as text) collate "C"))
{%- endmacro %}

{#- lower() folds every letter: it serves ASCII text only (as many bytes as characters) -#}
{% macro duckdb__normalize_pii(column) -%}
    {%- set text = 'cast(' ~ column ~ ' as varchar)' -%}
    trim(case when strlen({{ text }}) = length({{ text }}) then lower({{ text }}) else {{ translate_a_to_z(text) }} end)
{%- endmacro %}

{#- and Databricks (its dispatch falls back to spark__) -#}
{% macro spark__normalize_pii(column) -%}
    {%- set text = 'cast(' ~ column ~ ' as string)' -%}
    trim(case when octet_length({{ text }}) = char_length({{ text }}) then lower({{ text }}) else {{ translate_a_to_z(text) }} end)
{%- endmacro %}

{% macro translate_a_to_z(text) -%}
    translate({{ text }}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
{%- endmacro %}


{#- The key's inner and outer pads as hex (64 bytes each: the key zero-padded, xor 0x36 / 0x5c).
    While dbt parses (execute is false) nothing reads the key: placeholders are returned. -#}
{% macro pii_hash_pads() -%}
    {%- if not execute -%}
        {{ return({'inner': '', 'outer': ''}) }}
    {%- endif -%}
    {%- set key = env_var('PII_HASH_KEY', '') | trim | lower -%}
    {%- set digits = '0123456789abcdef' -%}
    {%- if key == '' -%}
        {{ exceptions.raise_compiler_error(
            "PII_HASH_KEY is not set: the staging models hash personal data with HMAC-SHA256 under "
            ~ "this secret key. `make run` creates one in .local/pii_hash_key; elsewhere set 64 hex "
            ~ "characters, e.g. python3 -c 'import secrets; print(secrets.token_hex(32))', and keep "
            ~ "it: a new key changes every hash (README.md, Security).") }}
    {%- endif -%}
    {%- set bad = key | list | reject('in', digits) | list -%}
    {%- if bad or key | length is odd or key | length < 64 or key | length > 128 -%}
        {{ exceptions.raise_compiler_error(
            "PII_HASH_KEY must be 64 to 128 hexadecimal characters (a 32 to 64 byte key); the value "
            ~ "set has " ~ key | length ~ " characters" ~ (", not all of them hex digits" if bad else "")
            ~ ". Make one with python3 -c 'import secrets; print(secrets.token_hex(32))'.") }}
    {%- endif -%}
    {%- set pads = namespace(inner='', outer='') -%}
    {%- for i in range(64) -%}
        {%- set byte = (digits.index(key[2 * i]) * 16 + digits.index(key[2 * i + 1])) if 2 * i < key | length else 0 -%}
        {%- set inner = xor_byte(byte, 54) | int -%}
        {%- set outer = xor_byte(byte, 92) | int -%}
        {%- set pads.inner = pads.inner ~ digits[inner // 16] ~ digits[inner % 16] -%}
        {%- set pads.outer = pads.outer ~ digits[outer // 16] ~ digits[outer % 16] -%}
    {%- endfor -%}
    {{ return({'inner': pads.inner, 'outer': pads.outer}) }}
{%- endmacro %}


{#- a xor b for two bytes, in integer arithmetic (dbt's sandboxed Jinja has no ^ operator) -#}
{% macro xor_byte(a, b) -%}
    {%- set result = namespace(value=0) -%}
    {%- for bit in [1, 2, 4, 8, 16, 32, 64, 128] -%}
        {%- if (a // bit) % 2 != (b // bit) % 2 -%}
            {%- set result.value = result.value + bit -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(result.value) }}
{%- endmacro %}


{#- HMAC-SHA256 of the text `message` as lower-case hex, from the engine's sha256 over bytes and
    the pads above (hex). One implementation per engine; an engine without one fails by name. -#}
{% macro default__hmac_sha256_hex(message, inner_pad, outer_pad) -%}
    {{ exceptions.raise_compiler_error(
        "hash_pii: no HMAC-SHA256 for the " ~ adapter.type() ~ " adapter; add " ~ adapter.type()
        ~ "__hmac_sha256_hex to dbt_project/macros/hash_pii.sql") }}
{%- endmacro %}

{#- sha256() gives hex: unhex() turns the inner digest back into bytes -#}
{% macro duckdb__hmac_sha256_hex(message, inner_pad, outer_pad) -%}
    sha256(unhex('{{ outer_pad }}') || unhex(sha256(unhex('{{ inner_pad }}') || encode({{ message }}))))
{%- endmacro %}

{% macro postgres__hmac_sha256_hex(message, inner_pad, outer_pad) -%}
    encode(sha256(decode('{{ outer_pad }}', 'hex') || sha256(decode('{{ inner_pad }}', 'hex') || convert_to({{ message }}, 'UTF8'))), 'hex')
{%- endmacro %}

{#- Spark and Databricks (its dispatch falls back to spark__): sha2 returns hex -#}
{% macro spark__hmac_sha256_hex(message, inner_pad, outer_pad) -%}
    sha2(concat(unhex('{{ outer_pad }}'), unhex(sha2(concat(unhex('{{ inner_pad }}'), encode({{ message }}, 'UTF-8')), 256))), 256)
{%- endmacro %}

{#- sha2_binary gives bytes; to_binary(..., 'UTF-8') encodes the text -#}
{% macro snowflake__hmac_sha256_hex(message, inner_pad, outer_pad) -%}
    lower(sha2(to_binary('{{ outer_pad }}', 'HEX') || sha2_binary(to_binary('{{ inner_pad }}', 'HEX') || to_binary({{ message }}, 'UTF-8'), 256), 256))
{%- endmacro %}
