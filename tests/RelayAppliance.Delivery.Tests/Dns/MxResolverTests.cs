using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using RelayAppliance.Delivery.Dns;
using static RelayAppliance.Delivery.Tests.Dns.TestDnsServer;

namespace RelayAppliance.Delivery.Tests.Dns;

// DnsClient against TestDnsServer on 127.0.0.1: every resolver here names that server explicitly, never the system's.
public sealed class MxResolverTests : IAsyncLifetime
{
    private readonly TestDnsServer _dns = new();
    private readonly FakeTimeProvider _time = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _dns.DisposeAsync();

    private MxResolver Resolver(int seed = 1, Func<DnsOptions, DnsOptions>? configure = null)
    {
        var options = new DnsOptions { Servers = [_dns.EndPoint], Timeout = TimeSpan.FromSeconds(2), Retries = 0 };
        return new MxResolver(configure?.Invoke(options) ?? options, _time, NullLoggerFactory.Instance, new Random(seed));
    }

    private static Task<MxResult> Resolve(MxResolver resolver, string domain) => resolver.ResolveAsync(domain, CancellationToken.None).AsTask();

    [Fact]
    public async Task HostsComeInPreferenceOrder()
    {
        _dns.Mx("example.test", 20, "mx2.example.test").Mx("example.test", 10, "mx1.example.test").Mx("example.test", 30, "mx3.example.test")
            .Address("mx1.example.test", "127.0.1.1").Address("mx2.example.test", "127.0.1.2").Address("mx3.example.test", "127.0.1.3");

        var result = await Resolve(Resolver(), "example.test");

        Assert.Equal(MxOutcome.Hosts, result.Outcome);
        Assert.Null(result.Detail);
        Assert.Equal(["mx1.example.test", "mx2.example.test", "mx3.example.test"], result.Hosts.Select(h => h.Name));
        Assert.Equal([10, 20, 30], result.Hosts.Select(h => h.Preference));
        Assert.Equal(IPAddress.Parse("127.0.1.2"), Assert.Single(result.Hosts[1].Addresses));
    }

    [Fact]
    public async Task AHostLookupAsksOnlyForAddressesAndIsCachedApartFromTheMxAnswer()
    {
        _dns.Mx("smtp.example.test", 10, "other.example.test").Address("other.example.test", "127.0.1.9")
            .Address("smtp.example.test", "127.0.1.1").Address("smtp.example.test", "::1");
        var resolver = Resolver();

        var host = await resolver.ResolveHostAsync("SMTP.example.test.", CancellationToken.None);
        var again = await resolver.ResolveHostAsync("smtp.example.test", CancellationToken.None);
        var mx = await Resolve(resolver, "smtp.example.test");

        Assert.Equal(MxOutcome.Hosts, host.Outcome);
        Assert.Equal([IPAddress.Parse("127.0.1.1"), IPAddress.IPv6Loopback], Assert.Single(host.Hosts).Addresses);
        Assert.Same(host, again);
        Assert.Equal("other.example.test", Assert.Single(mx.Hosts).Name); // the MX answer is its own entry
        Assert.Equal(1, _dns.Queries("smtp.example.test", TypeA));
        Assert.Equal(1, _dns.Queries("smtp.example.test", TypeMx)); // asked by the MX lookup only
        Assert.Equal(MxOutcome.NoSuchDomain, (await resolver.ResolveHostAsync("missing.example.test", CancellationToken.None)).Outcome);
    }

    [Fact]
    public async Task EqualPreferencesAreShuffled()
    {
        _dns.Mx("example.test", 10, "a.example.test").Mx("example.test", 10, "b.example.test").Mx("example.test", 5, "best.example.test")
            .Address("a.example.test", "127.0.1.1").Address("b.example.test", "127.0.1.2").Address("best.example.test", "127.0.1.3");

        var orders = new HashSet<string>();
        for (var seed = 0; seed < 16; seed++)
        {
            var result = await Resolve(Resolver(seed), "example.test");
            Assert.Equal("best.example.test", result.Hosts[0].Name);
            orders.Add(string.Join(",", result.Hosts.Skip(1).Select(h => h.Name)));
        }

        Assert.Equal(["a.example.test,b.example.test", "b.example.test,a.example.test"], orders.Order());
    }

    [Fact]
    public async Task NoMxMeansImplicitMxFromTheDomainsAddresses()
    {
        // RFC 5321 §5.1: the domain itself, preference 0; A before AAAA.
        _dns.Address("plain.test", "::1").Address("plain.test", "127.0.2.1");

        var result = await Resolve(Resolver(), "plain.test");

        Assert.Equal(MxOutcome.Hosts, result.Outcome);
        var host = Assert.Single(result.Hosts);
        Assert.Equal(("plain.test", 0), (host.Name, host.Preference));
        Assert.Equal([IPAddress.Parse("127.0.2.1"), IPAddress.IPv6Loopback], host.Addresses);
    }

    [Fact]
    public async Task NullMxMeansNoMail()
    {
        _dns.NullMx("nomail.test").Address("nomail.test", "127.0.2.1");

        var result = await Resolve(Resolver(), "nomail.test");

        Assert.Equal(MxOutcome.NullMx, result.Outcome);
        Assert.Empty(result.Hosts);
        Assert.Equal(0, _dns.Queries("nomail.test", TypeA));   // no fallback to the implicit MX
    }

    [Fact]
    public async Task ARootExchangeBesideRealMxRecordsIsIgnored()
    {
        _dns.NullMx("mixed.test").Mx("mixed.test", 10, "mx.mixed.test").Address("mx.mixed.test", "127.0.1.1");

        var result = await Resolve(Resolver(), "mixed.test");

        Assert.Equal(MxOutcome.Hosts, result.Outcome);
        Assert.Equal("mx.mixed.test", Assert.Single(result.Hosts).Name);
    }

    [Fact]
    public async Task NxDomainIsNoSuchDomain()
    {
        var result = await Resolve(Resolver(), "missing.test");

        Assert.Equal(MxOutcome.NoSuchDomain, result.Outcome);
        Assert.Contains("NXDOMAIN", result.Detail);
    }

    [Fact]
    public async Task NoMxAndNoAddressesIsNoSuchDomain()
    {
        _dns.Exists("empty.test");

        var result = await Resolve(Resolver(), "empty.test");

        Assert.Equal(MxOutcome.NoSuchDomain, result.Outcome);
        Assert.Equal(1, _dns.Queries("empty.test", TypeAaaa));
    }

    [Theory]
    [InlineData(Behaviour.ServFail, "SERVFAIL")]
    [InlineData(Behaviour.Refused, "REFUSED")]
    public async Task ServerErrorsAreTemporary(Behaviour behaviour, string expected)
    {
        _dns.Mx("broken.test", 10, "mx.broken.test").Fail("broken.test", behaviour);

        var result = await Resolve(Resolver(), "broken.test");

        Assert.Equal(MxOutcome.TemporaryFailure, result.Outcome);
        Assert.Contains(expected, result.Detail);
        Assert.Contains(_dns.EndPoint.ToString(), result.Detail);
    }

    [Fact]
    public async Task ASilentServerIsTemporaryWithinTheConfiguredTimeout()
    {
        _dns.Fail("slow.test", Behaviour.Silent);
        var resolver = Resolver(configure: o => o with { Timeout = TimeSpan.FromMilliseconds(200), Retries = 1 });

        var clock = Stopwatch.StartNew();
        var result = await Resolve(resolver, "slow.test");

        Assert.Equal(MxOutcome.TemporaryFailure, result.Outcome);
        Assert.Contains("timed out", result.Detail);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(350), TimeSpan.FromSeconds(2));
        Assert.Equal(2, _dns.Queries("slow.test", TypeMx));   // one try plus one retry
    }

    [Fact]
    public async Task HostsWithoutAddressesAreSkipped()
    {
        _dns.Mx("example.test", 10, "gone.example.test")         // NXDOMAIN
            .Mx("example.test", 20, "bare.example.test")         // exists, no A/AAAA
            .Mx("example.test", 30, "ok.example.test")
            .Exists("bare.example.test").Address("ok.example.test", "127.0.1.3");

        var result = await Resolve(Resolver(), "example.test");

        Assert.Equal(MxOutcome.Hosts, result.Outcome);
        Assert.Equal("ok.example.test", Assert.Single(result.Hosts).Name);
        Assert.Null(result.Detail);
    }

    [Fact]
    public async Task MxHostsThatAllFailToResolveAreTemporary()
    {
        _dns.Mx("example.test", 10, "gone.example.test").Mx("example.test", 20, "bad.example.test").Fail("bad.example.test", Behaviour.ServFail);

        var result = await Resolve(Resolver(), "example.test");

        Assert.Equal(MxOutcome.TemporaryFailure, result.Outcome);
        Assert.Contains("A bad.example.test: SERVFAIL", result.Detail);
    }

    [Fact]
    public async Task AddressesAreAThenAaaaPerHost()
    {
        _dns.Mx("example.test", 10, "mx.example.test")
            .Address("mx.example.test", "2001:db8::1").Address("mx.example.test", "127.0.1.1")
            .Address("mx.example.test", "2001:db8::2").Address("mx.example.test", "127.0.1.2");

        var result = await Resolve(Resolver(), "example.test");

        Assert.Equal(
            ["127.0.1.1", "127.0.1.2", "2001:db8::1", "2001:db8::2"],
            Assert.Single(result.Hosts).Addresses.Select(a => a.ToString()));
    }

    [Fact]
    public async Task AnswersAreCachedForTheShortestTtlUsed()
    {
        _dns.Mx("example.test", 10, "mx.example.test", ttl: 300).Address("mx.example.test", "127.0.1.1", ttl: 120);
        var resolver = Resolver();

        var first = await Resolve(resolver, "example.test");
        var queries = _dns.TotalQueries;
        Assert.Equal(3, queries);   // MX, A, AAAA

        _time.Advance(TimeSpan.FromSeconds(119));
        Assert.Same(first, await Resolve(resolver, "EXAMPLE.test."));   // case and root dot do not matter
        Assert.Equal(queries, _dns.TotalQueries);

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(MxOutcome.Hosts, (await Resolve(resolver, "example.test")).Outcome);
        Assert.Equal(2 * queries, _dns.TotalQueries);
    }

    [Fact]
    public async Task ShortTtlsAreRaisedToTheFloor()
    {
        _dns.Mx("example.test", 10, "mx.example.test", ttl: 1).Address("mx.example.test", "127.0.1.1", ttl: 1);
        var resolver = Resolver(configure: o => o with { MinimumTtl = TimeSpan.FromSeconds(30) });

        await Resolve(resolver, "example.test");
        _time.Advance(TimeSpan.FromSeconds(29));
        await Resolve(resolver, "example.test");
        Assert.Equal(1, _dns.Queries("example.test", TypeMx));

        _time.Advance(TimeSpan.FromSeconds(2));
        await Resolve(resolver, "example.test");
        Assert.Equal(2, _dns.Queries("example.test", TypeMx));
    }

    [Fact]
    public async Task LongTtlsAreCutToTheCeiling()
    {
        _dns.Mx("example.test", 10, "mx.example.test", ttl: 7 * 86400).Address("mx.example.test", "127.0.1.1", ttl: 7 * 86400);
        var resolver = Resolver(configure: o => o with { MaximumTtl = TimeSpan.FromHours(1) });

        await Resolve(resolver, "example.test");
        _time.Advance(TimeSpan.FromMinutes(59));
        await Resolve(resolver, "example.test");
        Assert.Equal(1, _dns.Queries("example.test", TypeMx));

        _time.Advance(TimeSpan.FromMinutes(2));
        await Resolve(resolver, "example.test");
        Assert.Equal(2, _dns.Queries("example.test", TypeMx));
    }

    [Theory]
    [InlineData("missing.test")]   // NXDOMAIN
    [InlineData("nomail.test")]    // null MX
    [InlineData("empty.test")]     // no MX, no addresses
    public async Task NegativeAnswersAreCachedForNegativeTtl(string domain)
    {
        _dns.NullMx("nomail.test").Exists("empty.test");
        var resolver = Resolver(configure: o => o with { NegativeTtl = TimeSpan.FromMinutes(5) });

        await Resolve(resolver, domain);
        var queries = _dns.TotalQueries;
        _time.Advance(TimeSpan.FromMinutes(4));
        await Resolve(resolver, domain);
        Assert.Equal(queries, _dns.TotalQueries);

        _time.Advance(TimeSpan.FromMinutes(2));
        await Resolve(resolver, domain);
        Assert.Equal(2 * queries, _dns.TotalQueries);
    }

    [Fact]
    public async Task TemporaryFailuresAreCachedBriefly()
    {
        _dns.Fail("broken.test", Behaviour.ServFail);
        var resolver = Resolver(configure: o => o with { TemporaryFailureTtl = TimeSpan.FromSeconds(30) });

        await Resolve(resolver, "broken.test");
        _time.Advance(TimeSpan.FromSeconds(29));
        await Resolve(resolver, "broken.test");
        Assert.Equal(1, _dns.TotalQueries);

        _time.Advance(TimeSpan.FromSeconds(2));
        await Resolve(resolver, "broken.test");
        Assert.Equal(2, _dns.TotalQueries);
    }

    [Fact]
    public async Task APartialAnswerIsKeptOnlyAsLongAsATemporaryFailure()
    {
        _dns.Mx("example.test", 10, "bad.example.test").Mx("example.test", 20, "ok.example.test")
            .Fail("bad.example.test", Behaviour.ServFail).Address("ok.example.test", "127.0.1.2");
        var resolver = Resolver(configure: o => o with { TemporaryFailureTtl = TimeSpan.FromSeconds(30) });

        var result = await Resolve(resolver, "example.test");
        Assert.Equal(MxOutcome.Hosts, result.Outcome);
        Assert.Equal("ok.example.test", Assert.Single(result.Hosts).Name);
        Assert.Contains("SERVFAIL", result.Detail);

        _time.Advance(TimeSpan.FromSeconds(31));
        await Resolve(resolver, "example.test");
        Assert.Equal(2, _dns.Queries("example.test", TypeMx));
    }

    [Fact]
    public async Task ConcurrentLookupsOfOneDomainShareOneQuery()
    {
        _dns.Mx("example.test", 10, "mx.example.test").Address("mx.example.test", "127.0.1.1");
        _dns.Delay = TimeSpan.FromMilliseconds(200);
        var resolver = Resolver();

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => Resolve(resolver, "example.test"))));

        Assert.Equal(1, _dns.Queries("example.test", TypeMx));
        Assert.Equal(1, _dns.Queries("mx.example.test", TypeA));
        Assert.All(results, r => Assert.Same(results[0], r));
    }

    [Fact]
    public async Task ACallerGivingUpDoesNotCancelTheSharedLookup()
    {
        _dns.Mx("example.test", 10, "mx.example.test").Address("mx.example.test", "127.0.1.1");
        _dns.Delay = TimeSpan.FromMilliseconds(200);
        var resolver = Resolver();
        using var impatient = new CancellationTokenSource();

        var abandoned = resolver.ResolveAsync("example.test", impatient.Token).AsTask();
        var patient = Resolve(resolver, "example.test");
        await impatient.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        Assert.Equal(MxOutcome.Hosts, (await patient).Outcome);
        Assert.Equal(1, _dns.Queries("example.test", TypeMx));
    }

    [Fact]
    public async Task TruncatedUdpAnswersAreRetriedOverTcp()
    {
        _dns.Mx("example.test", 10, "mx.example.test").Address("mx.example.test", "127.0.1.1");
        _dns.TruncateUdp = true;

        var result = await Resolve(Resolver(), "example.test");

        Assert.Equal("mx.example.test", Assert.Single(result.Hosts).Name);
        Assert.True(_dns.TcpQueries >= 3);
    }

    [Fact]
    public async Task TheSecondServerIsAskedWhenTheFirstFails()
    {
        await using var good = new TestDnsServer();
        good.Mx("example.test", 10, "mx.example.test").Address("mx.example.test", "127.0.1.1");
        _dns.Fail("example.test", Behaviour.ServFail);
        var resolver = Resolver(configure: o => o with { Servers = [_dns.EndPoint, good.EndPoint] });

        var result = await Resolve(resolver, "example.test");

        Assert.Equal(MxOutcome.Hosts, result.Outcome);
        Assert.Equal(1, _dns.Queries("example.test", TypeMx));
    }

    [Fact]
    public async Task InternationalizedDomainsAreAskedForInTheirALabelForm()
    {
        // SMTPUTF8 mail may carry U-labels; DNS knows only the A-label (RFC 5890). Runs under InvariantGlobalization.
        _dns.Mx("xn--bcher-kva.test", 10, "mx.xn--bcher-kva.test").Address("mx.xn--bcher-kva.test", "127.0.1.1");

        var result = await Resolve(Resolver(), "bücher.test");

        Assert.Equal(MxOutcome.Hosts, result.Outcome);
        Assert.Equal("mx.xn--bcher-kva.test", Assert.Single(result.Hosts).Name);
    }

    [Theory]
    [InlineData("bad..name.test")]
    [InlineData("a-label-that-is-longer-than-sixty-three-octets-is-not-a-dns-label-at-all.test")]
    public async Task NamesDnsCannotCarryAreNoSuchDomainWithoutAQuery(string domain)
    {
        var result = await Resolve(Resolver(), domain);

        Assert.Equal(MxOutcome.NoSuchDomain, result.Outcome);
        Assert.Contains("not a valid domain name", result.Detail);
        Assert.Equal(0, _dns.TotalQueries);
    }

    [Fact]
    public void InconsistentOptionsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Resolver(configure: o => o with { MaximumTtl = TimeSpan.FromSeconds(1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Resolver(configure: o => o with { Timeout = TimeSpan.Zero }));
    }
}
