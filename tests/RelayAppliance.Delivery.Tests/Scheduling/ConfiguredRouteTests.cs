using RelayAppliance.Delivery.Scheduling;
using RelayAppliance.Delivery.Tests.Dns;
using RelayAppliance.Spool;
using static RelayAppliance.Delivery.Tests.Scheduling.DeliveryHarness;

namespace RelayAppliance.Delivery.Tests.Scheduling;

/// <summary>
/// Delivery:Transports and Delivery:Smarthost naming hosts: their A/AAAA records come from the in-test DNS server at
/// delivery time, never their MX (Postfix's [host]); a name without an address defers.
/// </summary>
public sealed class ConfiguredRouteTests : IAsyncLifetime
{
    private readonly DeliveryHarness _h = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private static Func<DeliveryOptions, DeliveryOptions> Route(string domain, params NextHop[] hops) =>
        o => o with { Transports = new Dictionary<string, IReadOnlyList<NextHop>> { [domain] = hops } };

    [Fact]
    public async Task ATransportHostNameIsResolvedToItsAddressAndCachedWithoutAnyMxLookup()
    {
        var peer = _h.Peer("127.0.0.91");
        var mxOfTheName = _h.Peer("127.0.0.92", peer.EndPoint.Port);
        _h.Dns.Address("smtp.partner.test", "127.0.0.91")
            .Mx("smtp.partner.test", 10, "elsewhere.partner.test").Address("elsewhere.partner.test", "127.0.0.92")
            .Mx("partner.test", 10, "elsewhere.partner.test");
        _h.Start(Route("partner.test", new NextHop("smtp.partner.test", peer.EndPoint.Port)));

        for (var i = 0; i < 2; i++)
        {
            var id = await _h.QueueAsync("a@local.test", $"user{i}@partner.test");
            await _h.WaitForAsync(() => _h.Spool.Find(id) is null, $"message {i} to be delivered");
        }
        Assert.Equal(2, Count(peer, "MAIL"));
        Assert.Equal(0, mxOfTheName.Connections);
        Assert.Equal(1, _h.Dns.Queries("smtp.partner.test", TestDnsServer.TypeA)); // the second from the cache
        Assert.Equal(0, _h.Dns.Queries("smtp.partner.test", TestDnsServer.TypeMx));
        Assert.Equal(0, _h.Dns.Queries("partner.test", TestDnsServer.TypeMx));
    }

    [Fact]
    public async Task ASmarthostNamedByHostCarriesMailForAnyDomain()
    {
        var peer = _h.Peer("127.0.0.93");
        _h.Dns.Address("smarthost.isp.test", "127.0.0.93");
        _h.Start(o => o with { Smarthost = [new NextHop("smarthost.isp.test", peer.EndPoint.Port)] });

        var id = await _h.QueueAsync("a@local.test", "bob@anywhere.test");
        await _h.WaitForAsync(() => _h.Spool.Find(id) is null, "delivery through the smarthost");
        Assert.Contains("RCPT TO:<bob@anywhere.test>", peer.Commands);
        Assert.Equal(0, _h.Dns.Queries("anywhere.test", TestDnsServer.TypeMx));
    }

    [Theory]
    [InlineData(TestDnsServer.Behaviour.NxDomain)]
    [InlineData(TestDnsServer.Behaviour.ServFail)]
    public async Task ANameWithoutAnAddressDefersWith443AndNeverBounces(TestDnsServer.Behaviour behaviour)
    {
        _h.Dns.Fail("missing.partner.test", behaviour);
        _h.Start(Route("partner.test", new NextHop("missing.partner.test", 25)));
        var t0 = _h.Time.GetUtcNow();

        var id = await _h.QueueAsync("a@local.test", "bob@partner.test");
        var bob = await _h.WaitForDeferralAsync(id, attempts: 1);
        Assert.StartsWith("451 4.4.3", bob.LastResult);
        Assert.Contains("missing.partner.test", bob.LastResult);
        Assert.True(bob.NextAttemptAt >= t0.AddMinutes(5));
        Assert.Single(_h.Spool.List()); // no DSN
    }

    [Fact]
    public async Task AnUnresolvableHopIsSkippedForTheNextOneInTheList()
    {
        var peer = _h.Peer("127.0.0.94");
        _h.Dns.Address("smtp2.partner.test", "127.0.0.94");
        _h.Start(Route("partner.test", new NextHop("missing.partner.test", peer.EndPoint.Port), new NextHop("smtp2.partner.test", peer.EndPoint.Port)));

        var id = await _h.QueueAsync("a@local.test", "bob@partner.test");
        await _h.WaitForAsync(() => _h.Spool.Find(id) is null, "delivery through the second hop");
        Assert.Equal(1, Count(peer, "MAIL"));
        Assert.Equal(1, _h.Dns.Queries("missing.partner.test", TestDnsServer.TypeA));
    }
}
