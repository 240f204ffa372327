<?php

/*
 * The worker's side of protocol v1 over a Channel: next invocation in,
 * ready / init_error / result / error out.  Frame sizes are checked here so a
 * response over DISPATCHER_MAX_FRAME becomes an error the caller can read
 * instead of a frame the supervisor would reject.
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

use Dispatcher\Worker\Msgpack\Codec;
use Dispatcher\Worker\Msgpack\Codecs;
use Dispatcher\Worker\Msgpack\PureCodec;
use Dispatcher\Worker\Protocol\FrameDecoder;
use Dispatcher\Worker\Protocol\Invoke;
use Dispatcher\Worker\Protocol\Messages;
use Dispatcher\Worker\Protocol\ProtocolViolation;

final class Session
{
    private readonly FrameDecoder $decoder;

    public function __construct(public readonly Channel $channel, public readonly Codec $codec)
    {
        $this->decoder = new FrameDecoder($codec);
    }

    /**
     * Opens the channel from the environment.  A bad setting is still reported
     * to the supervisor as init_error (through the pure codec and the default
     * frame limit), then the process exits: the user sees it in the init error.
     */
    public static function openOrExit(): self
    {
        try {
            return new self(Channel::open(Channel::maxFrameFromEnvironment()), Codecs::fromEnvironment());
        } catch (\InvalidArgumentException $e) {
            $session = new self(Channel::open(Channel::DEFAULT_MAX_FRAME), new PureCodec());
            $session->failInit(new ErrorReport(LambdaError::INVALID_ENTRYPOINT, $e->getMessage()));
        }
    }

    /**
     * The next invocation, or null on shutdown / EOF.
     *
     * @throws ProtocolViolation
     */
    public function next(): ?Invoke
    {
        $body = $this->channel->readFrame();
        if ($body === null) {
            return null;
        }
        $message = $this->decoder->decode($body);
        return $message instanceof Invoke ? $message : null;
    }

    /** @param list<string> $features the optional frame kinds this worker may send */
    public function ready(array $features = Messages::FEATURES): void
    {
        $this->send(Messages::ready($features));
    }

    public function initError(ErrorReport $error): void
    {
        $this->send(Messages::initError($error));
    }

    /** init_error, a line on stderr, exit 1 ("then exit (any status)"). */
    public function failInit(ErrorReport $error): never
    {
        fwrite(STDERR, sprintf("dispatcher-worker: init failed: %s: %s\n", $error->type, $error->message));
        $this->initError($error);
        exit(1);
    }

    public function result(string $id, string $body): void
    {
        $frame = $this->codec->pack(Messages::result($id, $body));
        if (strlen($frame) > $this->channel->maxFrame) {
            $this->error($id, new ErrorReport(LambdaError::RESPONSE_TOO_LARGE, sprintf(
                'response of %d bytes does not fit a frame of DISPATCHER_MAX_FRAME=%d bytes',
                strlen($body),
                $this->channel->maxFrame,
            )));
            return;
        }
        $this->channel->writeFrame($frame);
    }

    public function error(string $id, ErrorReport $error): void
    {
        $frame = $this->codec->pack(Messages::error($id, $error));
        if (strlen($frame) > $this->channel->maxFrame) {
            // A huge message or trace: keep the type, cut the rest to fit.
            $cut = new ErrorReport($error->type, substr($error->message, 0, 4096) . ' [cut]', array_slice($error->stackTrace, 0, 50));
            $frame = $this->codec->pack(Messages::error($id, $cut));
        }
        $this->channel->writeFrame($frame);
    }

    /** @param array<string, mixed> $message */
    public function send(array $message): void
    {
        $this->channel->writeFrame($this->codec->pack($message));
    }

    /**
     * The next invocation, with its trace id applied to the environment; on
     * shutdown or EOF the process exits 0, on malformed input 70 (every
     * serving loop's rule).
     */
    public function nextOrExit(): Invoke
    {
        try {
            $invoke = $this->next();
        } catch (ProtocolViolation $e) {
            self::exitOnViolation($e);
        }
        if ($invoke === null) {
            exit(0);
        }
        TraceEnv::apply($invoke->traceId);
        return $invoke;
    }

    /** Malformed input from the supervisor: diagnostic on stderr, exit 70. */
    public static function exitOnViolation(ProtocolViolation $e): never
    {
        fwrite(STDERR, sprintf(
            "dispatcher-worker: malformed frame from the supervisor (%s): %s; exiting with status %d\n",
            $e->reason,
            $e->getMessage(),
            ProtocolViolation::EXIT_STATUS,
        ));
        exit(ProtocolViolation::EXIT_STATUS);
    }
}
