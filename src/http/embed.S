/* embed.S - the OpenAPI document, linked into the binary as bytes. */
	.section .rodata
	.global cove_openapi_json
	.global cove_openapi_json_end
	.balign 16
cove_openapi_json:
	.incbin "docs/openapi.json"
cove_openapi_json_end:
	.byte 0
	.section .note.GNU-stack,"",@progbits
