using System.Collections.Concurrent;
using DnsClient;
using Microsoft.Extensions.Logging;

namespace RelayAppliance.Delivery.Dns;

/// <summary>
/// RFC 5321 §5.1 resolution with DnsClient: MX by preference, equal preferences shuffled, implicit MX from A/AAAA
/// when there is no MX, null MX, NXDOMAIN; hosts whose names do not resolve are left out. Answers are cached by TTL
/// (clamped to [MinimumTtl, MaximumTtl]); negative answers and temporary failures are cached briefly.
/// </summary>
/// <remarks>
/// The cache is ours, not DnsClient's: one entry per domain holds the whole decision (ordered hosts with addresses),
/// so a cached lookup costs a dictionary read and no re-sorting, and its lifetime follows the shortest TTL used.
/// Lookups of the same domain that overlap share one in-flight query.
/// </remarks>
public sealed partial class MxResolver
{
    // Expired entries are dropped lazily on read; a sweep bounds memory when many domains are seen once.
    private const int SweepThreshold = 10_000;

    private readonly DnsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IDnsQuery _dns;
    private readonly Random _random;
    private readonly ConcurrentDictionary<string, CacheEntry> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<MxResult>> _inFlight = new(StringComparer.Ordinal);
    private long _lastSweep;

    public MxResolver(DnsOptions options, TimeProvider time, ILoggerFactory loggerFactory)
        : this(options, time, loggerFactory, Random.Shared)
    {
    }

    /// <summary>Tests pass a seeded <paramref name="random"/> to pin the shuffle of equal preferences.</summary>
    internal MxResolver(DnsOptions options, TimeProvider time, ILoggerFactory loggerFactory, Random random)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(random);
        Validate(options);
        _options = options;
        _time = time;
        _logger = loggerFactory.CreateLogger<MxResolver>();
        _random = random;
        _dns = new LookupClient(CreateClientOptions(options));
        _lastSweep = time.GetTimestamp();
    }

    public ValueTask<MxResult> ResolveAsync(string domain, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(domain);
        var key = Normalize(domain);

        if (_cache.TryGetValue(key, out var cached))
        {
            if (_time.GetElapsedTime(cached.Stored) < cached.Lifetime)
            {
                return new ValueTask<MxResult>(cached.Result);
            }
            _cache.TryRemove(new KeyValuePair<string, CacheEntry>(key, cached));
        }

        // The shared query is not tied to any caller's token (one caller giving up must not fail the others);
        // it is bounded by Timeout × (Retries + 1) per server. Each caller only stops waiting on its own token.
        return new ValueTask<MxResult>(JoinOrStart(key).WaitAsync(cancellationToken));
    }

    /// <summary>
    /// A and AAAA of one host, no MX lookup (a configured next hop, Postfix's <c>[host]</c>): one host of preference 0,
    /// NoSuchDomain when the name has no address, TemporaryFailure when DNS failed. Cached like MX answers.
    /// </summary>
    public ValueTask<MxResult> ResolveHostAsync(string host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        // "[name]" keys the cache apart from the MX answer for the same name; no mail domain is spelled that way.
        return ResolveAsync("[" + Normalize(host) + "]", cancellationToken);
    }

    /// <summary>Entries currently cached (expired ones included until read or swept); for tests.</summary>
    internal int CachedCount => _cache.Count;

    private Task<MxResult> JoinOrStart(string domain)
    {
        while (true)
        {
            if (_inFlight.TryGetValue(domain, out var running))
            {
                return running.Task;
            }
            var started = new TaskCompletionSource<MxResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_inFlight.TryAdd(domain, started))
            {
                _ = RunAsync(domain, started);
                return started.Task;
            }
        }
    }

    private async Task RunAsync(string domain, TaskCompletionSource<MxResult> completion)
    {
        MxResult result;
        try
        {
            TimeSpan lifetime;
            (result, lifetime) = domain.StartsWith('[')
                ? await HostLookupAsync(domain[1..^1]).ConfigureAwait(false)
                : await LookupAsync(domain).ConfigureAwait(false);
            Store(domain, result, lifetime);
            Log(domain, result);
        }
        catch (Exception ex)
        {
            // LookupAsync turns DNS trouble into results; reaching here is a bug, surfaced to every waiter.
            _inFlight.TryRemove(new KeyValuePair<string, TaskCompletionSource<MxResult>>(domain, completion));
            completion.SetException(ex);
            return;
        }
        // Leave the in-flight table after the cache holds the answer (a new caller finds one or the other) and
        // before completing, so a caller that saw this lookup finish can never join it again once its entry expires.
        _inFlight.TryRemove(new KeyValuePair<string, TaskCompletionSource<MxResult>>(domain, completion));
        completion.SetResult(result);
    }

    private void Store(string domain, MxResult result, TimeSpan lifetime)
    {
        if (lifetime <= TimeSpan.Zero)
        {
            return;
        }
        var now = _time.GetTimestamp();
        _cache[domain] = new CacheEntry(result, now, lifetime);
        if (_cache.Count > SweepThreshold && _time.GetElapsedTime(_lastSweep, now) > _options.MinimumTtl)
        {
            _lastSweep = now;
            foreach (var entry in _cache)
            {
                if (_time.GetElapsedTime(entry.Value.Stored, now) >= entry.Value.Lifetime)
                {
                    _cache.TryRemove(entry);
                }
            }
        }
    }

    private void Log(string domain, MxResult result)
    {
        if (result.Outcome == MxOutcome.TemporaryFailure)
        {
            DnsLog.TemporaryFailure(_logger, domain, result.Detail);
        }
        else
        {
            DnsLog.Resolved(_logger, domain, result.Outcome, result.Hosts.Count, result.Detail);
        }
    }

    // Domains compare case-insensitively (RFC 1035 §2.3.3); the trailing root dot is optional in mail domains.
    internal static string Normalize(string domain) => domain.Trim().TrimEnd('.').ToLowerInvariant();

    private static void Validate(DnsOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.Timeout, TimeSpan.Zero, nameof(options.Timeout));
        ArgumentOutOfRangeException.ThrowIfNegative(options.Retries, nameof(options.Retries));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MinimumTtl, TimeSpan.Zero, nameof(options.MinimumTtl));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaximumTtl, options.MinimumTtl, nameof(options.MaximumTtl));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.NegativeTtl, TimeSpan.Zero, nameof(options.NegativeTtl));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.TemporaryFailureTtl, TimeSpan.Zero, nameof(options.TemporaryFailureTtl));
    }

    private static LookupClientOptions CreateClientOptions(DnsOptions options)
    {
        // Explicit servers switch off DnsClient's own /etc/resolv.conf discovery; no servers keeps it on.
        var client = options.Servers.Count > 0 ? new LookupClientOptions([.. options.Servers]) : new LookupClientOptions();
        client.UseCache = false;                 // our cache decides (see remarks)
        client.Timeout = options.Timeout;        // per try
        client.Retries = options.Retries;        // per server
        client.ThrowDnsErrors = false;           // rcodes come back as responses, mapped in QueryAsync
        client.UseTcpFallback = true;            // RFC 7766: truncated UDP answers (large MX sets) are retried over TCP
        client.ContinueOnDnsError = true;        // SERVFAIL from one server: ask the next
        client.ContinueOnEmptyResponse = false;  // NODATA is an answer (implicit MX), not a reason to ask again
        client.UseRandomNameServer = false;      // resolv.conf order, as libc and Postfix use it
        return client;
    }

    private readonly record struct CacheEntry(MxResult Result, long Stored, TimeSpan Lifetime);
}
