using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Delivery.Dns;
using RelayAppliance.Delivery.Tests.Dns;

namespace RelayAppliance.Benchmarks.Delivery;

/// <summary>
/// The cached path of <see cref="MxResolver.ResolveAsync"/>: what every delivery attempt to a known destination pays.
/// The cache is filled once from the tests' loopback DNS responder (two MX hosts with A and AAAA), with TTLs clamped
/// to 6 h so nothing expires during a run; cleanup fails the run if the benchmark sent any DNS query.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class MxCacheBenchmarks
{
    private TestDnsServer _dns = null!;
    private MxResolver _resolver = null!;
    private int _queriesAfterWarmUp;

    [GlobalSetup]
    public void Setup()
    {
        _dns = new TestDnsServer();
        _dns.Mx("example.test", 10, "mx1.example.test").Mx("example.test", 20, "mx2.example.test")
            .Address("mx1.example.test", "127.0.1.1").Address("mx1.example.test", "::1").Address("mx2.example.test", "127.0.1.2");
        var options = new DnsOptions
        {
            Servers = [_dns.EndPoint],
            Timeout = TimeSpan.FromSeconds(2),
            Retries = 0,
            MinimumTtl = TimeSpan.FromHours(6),
            MaximumTtl = TimeSpan.FromHours(6),
        };
        _resolver = new MxResolver(options, TimeProvider.System, NullLoggerFactory.Instance);
        MxResult warm = _resolver.ResolveAsync("example.test", CancellationToken.None).AsTask().GetAwaiter().GetResult();
        if (warm.Outcome != MxOutcome.Hosts || warm.Hosts.Count != 2)
        {
            throw new InvalidOperationException($"Warm-up lookup gave {warm.Outcome} with {warm.Hosts.Count} hosts.");
        }

        _queriesAfterWarmUp = _dns.TotalQueries;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        int sent = _dns.TotalQueries - _queriesAfterWarmUp;
        _dns.DisposeAsync().AsTask().GetAwaiter().GetResult();
        if (sent != 0)
        {
            throw new InvalidOperationException($"The cached path sent {sent} DNS queries.");
        }
    }

    /// <summary>The name as the queue keys it: already lower case, no root dot (normalising returns the same string).</summary>
    [Benchmark(Baseline = true)]
    public int CachedHit() => Resolve("example.test");

    /// <summary>The name as a client may spell it: case folding and the root dot make a new string per lookup.</summary>
    [Benchmark]
    public int CachedHitMixedCaseWithRootDot() => Resolve("Example.TEST.");

    private int Resolve(string domain)
    {
        ValueTask<MxResult> lookup = _resolver.ResolveAsync(domain, CancellationToken.None);
        if (!lookup.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("The lookup missed the cache.");
        }

        return lookup.Result.Hosts.Count;
    }
}
