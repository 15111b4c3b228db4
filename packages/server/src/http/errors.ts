/** Maps every error that reaches HTTP to `{error: {code, message}}` with the code's status. */
import { type ErrorCode, httpStatusOf, OutpostError } from '@outpost/protocol';
import type { FastifyError, FastifyInstance } from 'fastify';

function classify(err: FastifyError): OutpostError {
  if (err instanceof OutpostError) return err;
  if (err.validation) {
    const first = err.validation[0];
    const where = `${err.validationContext ?? 'request'}${first?.instancePath ?? ''}`;
    const params = (first?.params ?? {}) as { additionalProperty?: string; missingProperty?: string };
    const what = params.additionalProperty
      ? `unknown field '${params.additionalProperty}'`
      : params.missingProperty
        ? `missing field '${params.missingProperty}'`
        : (first?.message ?? 'invalid');
    return new OutpostError('E_BAD_ARGS', `invalid ${where}: ${what}`);
  }
  const byFastifyCode: Record<string, [ErrorCode, string]> = {
    FST_ERR_CTP_BODY_TOO_LARGE: ['E_TOO_LARGE', 'request body too large'],
    FST_ERR_CTP_INVALID_JSON_BODY: ['E_BAD_ARGS', 'malformed JSON body'],
    FST_ERR_CTP_EMPTY_JSON_BODY: ['E_BAD_ARGS', 'empty JSON body'],
    FST_ERR_CTP_INVALID_MEDIA_TYPE: ['E_BAD_ARGS', 'unsupported content type; send application/json'],
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['E_BAD_ARGS', 'invalid content length'],
  };
  const mapped = err.code ? byFastifyCode[err.code] : undefined;
  if (mapped) return new OutpostError(mapped[0], mapped[1]);
  if (err instanceof SyntaxError || err.statusCode === 400) return new OutpostError('E_BAD_ARGS', 'malformed request');
  if (err.statusCode === 413) return new OutpostError('E_TOO_LARGE', 'request body too large');
  if (err.statusCode === 415) return new OutpostError('E_BAD_ARGS', 'unsupported content type');
  return new OutpostError('E_INTERNAL', 'internal error');
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = classify(err);
    req.errorCode = e.code;
    if (e.code === 'E_INTERNAL') req.log.error({ err }, 'request failed');
    else req.log.info({ code: e.code, msg: e.message }, 'request rejected');
    const retryAfter = (e.details as { retryAfter?: number } | undefined)?.retryAfter;
    if (e.code === 'E_RATE_LIMITED' && retryAfter) reply.header('retry-after', String(retryAfter));
    return reply.status(httpStatusOf[e.code]).send({ error: e.toBody() });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({
      error: { code: 'E_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]?.slice(0, 200)}` },
    }),
  );
}
