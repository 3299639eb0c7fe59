using System.Diagnostics;
using System.Threading.Channels;

namespace RelayAppliance.Host.Load;

/// <summary>
/// Runs one load: closed loop (each of C connections sends its next message as soon as the last one's reply came) or
/// open loop (messages fall due on a fixed schedule, R per second, and any of C connections takes the next one due;
/// the transaction latency runs from the intended send time, so a slow server cannot hide its queueing — the
/// "coordinated omission" of closed-loop tools). Always bounded: no message starts after <see cref="LoadOptions.Duration"/>,
/// and whatever is still in flight <see cref="Grace"/> later is aborted.
/// </summary>
internal sealed class LoadRunner(LoadOptions options, TimeProvider? timeProvider = null)
{
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);
    /// <summary>Closed loop: a worker whose connection attempt failed waits this long before the next message.</summary>
    public static readonly TimeSpan ConnectFailureBackoff = TimeSpan.FromMilliseconds(20);

    private readonly LoadMessage _message = new(options);
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private long _remaining = options.Messages ?? long.MaxValue;
    private long _startTimestamp;
    private volatile bool _stopRequested;

    public LoadOptions Options => options;
    public LoadStatistics Statistics { get; } = new(options.StartTls);
    public TimeSpan Elapsed { get; private set; }
    public DateTimeOffset StartedAt { get; private set; }
    public TimeSpan SoFar => _startTimestamp == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_startTimestamp);

    /// <summary>Stop starting messages (Ctrl+C); in-flight ones finish.</summary>
    public void Stop() => _stopRequested = true;

    private bool Stopping => _stopRequested || Stopwatch.GetElapsedTime(_startTimestamp) >= options.Duration;

    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        StartedAt = _time.GetUtcNow();
        _startTimestamp = Stopwatch.GetTimestamp();
        using var hard = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        hard.CancelAfter(options.Duration + Grace);
        using var stopSampling = new CancellationTokenSource();
        var sampler = SampleAsync(stopSampling.Token);
        if (options.OpenLoop)
        {
            await RunOpenLoopAsync(hard.Token).ConfigureAwait(false);
        }
        else
        {
            var workers = new Task[options.Concurrency];
            for (var i = 0; i < workers.Length; i++)
            {
                workers[i] = Task.Run(() => ClosedLoopWorkerAsync(hard.Token), CancellationToken.None);
            }
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        Elapsed = Stopwatch.GetElapsedTime(_startTimestamp);
        await stopSampling.CancelAsync().ConfigureAwait(false);
        var sampled = await sampler.ConfigureAwait(false);
        // The last, partial second; skipped when a late tick already saw everything (the timeline sums to the totals).
        var covered = TimeSpan.FromSeconds(sampled);
        if (sampled == 0 || Elapsed > covered)
        {
            Statistics.Sample(sampled + 1, sampled == 0 ? Elapsed : Elapsed - covered);
        }
    }

    /// <summary>Closes one timeline interval a second until stopped; returns how many it closed.</summary>
    private async Task<int> SampleAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), _time);
        var second = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                Statistics.Sample(++second, TimeSpan.FromSeconds(1));
            }
        }
        catch (OperationCanceledException)
        {
        }
        return second;
    }

    // Claims the messages of one connection's budget at once, so N messages at M per connection take ceil(N/M)
    // connections however the workers interleave. With no per-connection limit, one message at a time.
    private int ClaimBatch()
    {
        var want = options.PerConnection > 0 ? options.PerConnection : 1;
        while (true)
        {
            var remaining = Interlocked.Read(ref _remaining);
            if (remaining <= 0)
            {
                return 0;
            }
            var take = (int)Math.Min(want, remaining);
            if (Interlocked.CompareExchange(ref _remaining, remaining - take, remaining) == remaining)
            {
                return take;
            }
        }
    }

    private async Task ClosedLoopWorkerAsync(CancellationToken cancellationToken)
    {
        var session = new Session(this);
        try
        {
            while (!Stopping)
            {
                var batch = ClaimBatch();
                if (batch == 0)
                {
                    break;
                }
                for (var i = 0; i < batch && !Stopping; i++)
                {
                    await session.SendAsync(intendedTimestamp: 0, cancellationToken).ConfigureAwait(false);
                }
                await session.EndBatchAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The hard stop.
        }
        finally
        {
            await session.FinishAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RunOpenLoopAsync(CancellationToken cancellationToken)
    {
        var due = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleWriter = true });
        var workers = new Task[options.Concurrency];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(() => OpenLoopWorkerAsync(due.Reader, cancellationToken), CancellationToken.None);
        }
        try
        {
            await ScheduleAsync(due.Writer, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            due.Writer.Complete();
        }
        await Task.WhenAll(workers).ConfigureAwait(false);
    }

    /// <summary>Message i falls due at start + i/R; each is queued at (or just after) that time with its intended timestamp.</summary>
    private async Task ScheduleAsync(ChannelWriter<long> due, CancellationToken cancellationToken)
    {
        var interval = Stopwatch.Frequency / options.Rate!.Value;
        var total = options.Messages ?? long.MaxValue;
        long next = 0;
        while (next < total && !Stopping)
        {
            var now = Stopwatch.GetTimestamp();
            while (next < total)
            {
                var intended = _startTimestamp + (long)(next * interval);
                if (intended > now)
                {
                    break;
                }
                due.TryWrite(intended);
                next++;
            }
            if (next >= total)
            {
                break;
            }
            var wait = Stopwatch.GetElapsedTime(now, _startTimestamp + (long)(next * interval));
            try
            {
                await Task.Delay(wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task OpenLoopWorkerAsync(ChannelReader<long> due, CancellationToken cancellationToken)
    {
        var session = new Session(this);
        try
        {
            while (await due.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (due.TryRead(out var intended))
                {
                    if (Stopping)
                    {
                        Statistics.CountUnsent(1);
                        continue;
                    }
                    await session.SendAsync(intended, cancellationToken).ConfigureAwait(false);
                    if (options.PerConnection > 0 && session.SentOnConnection >= options.PerConnection)
                    {
                        await session.EndBatchAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The hard stop; what is left in the channel was never sent.
        }
        finally
        {
            await session.FinishAsync(cancellationToken).ConfigureAwait(false);
            while (due.TryRead(out _))
            {
                Statistics.CountUnsent(1);
            }
        }
    }

    /// <summary>One worker's connection, opened lazily and replaced when it breaks.</summary>
    private sealed class Session(LoadRunner runner)
    {
        private LoadConnection? _connection;

        public int SentOnConnection { get; private set; }

        /// <summary>Sends one message, counting its outcome; a failure is counted, never thrown (except the hard stop).</summary>
        public async ValueTask SendAsync(long intendedTimestamp, CancellationToken cancellationToken)
        {
            var stats = runner.Statistics;
            try
            {
                if (_connection is null)
                {
                    stats.CountConnection();
                    _connection = await LoadConnection.OpenAsync(runner.Options, runner._message, stats, cancellationToken).ConfigureAwait(false);
                    SentOnConnection = 0;
                    if (runner.Options.Pipelining && !_connection.ServerPipelining)
                    {
                        throw new LoadConnectionException("no-pipelining");
                    }
                }
                var start = intendedTimestamp != 0 ? intendedTimestamp : Stopwatch.GetTimestamp();
                var code = await _connection.SendMessageAsync(runner.Options.Pipelining, stats, cancellationToken).ConfigureAwait(false);
                SentOnConnection++;
                stats.Transaction.Record(start, Stopwatch.GetTimestamp());
                if (code == 250)
                {
                    stats.CountAccepted();
                }
                else
                {
                    stats.CountFailed(code);
                }
            }
            catch (LoadConnectionException e)
            {
                stats.CountFailed(e.ErrorClass);
                var couldNotConnect = _connection is null;
                await CloseAsync().ConfigureAwait(false);
                if (couldNotConnect && intendedTimestamp == 0)
                {
                    // Closed loop against a target that refuses: back off briefly rather than spin on a shared box.
                    await Task.Delay(ConnectFailureBackoff, runner._time, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                stats.CountFailed("aborted");
                await CloseAsync().ConfigureAwait(false);
                throw;
            }
        }

        /// <summary>Ends the connection after a per-connection batch (QUIT); with no limit the connection stays.</summary>
        public async ValueTask EndBatchAsync(CancellationToken cancellationToken)
        {
            if (runner.Options.PerConnection > 0 && _connection is not null)
            {
                await _connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                await CloseAsync().ConfigureAwait(false);
            }
        }

        /// <summary>QUIT (bounded by the hard stop) and close, at the end of the worker.</summary>
        public async ValueTask FinishAsync(CancellationToken cancellationToken)
        {
            if (_connection is { } connection && !cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await connection.QuitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
            await CloseAsync().ConfigureAwait(false);
        }

        public async ValueTask CloseAsync()
        {
            if (_connection is { } connection)
            {
                _connection = null;
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
