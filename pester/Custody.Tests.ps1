# Issue 22, items 7 and 9, over real SSH against the simulator: attestation of trust (Export-HsmTrustReport, a JSON report
# signed in OpenSSH's SSHSIG format and checked here with the real ssh-keygen -Y verify) and split custody of the sshadmin
# backup (Backup-HsmSshKey -Shares/-Threshold; Restore-HsmSshKey and Move-HsmModule -SharePath). The share test vectors are
# computed here with this file's own GF(256) arithmetic (bitwise multiplication, Lagrange interpolation at 0), not the
# product's, and the rebuilt backup is read by ssh-keygen.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    function Secure([string] $s) { ConvertTo-SecureString $s -AsPlainText -Force }
    function Format-Keys($keys) { ($keys.GetEnumerator() | Sort-Object Name | ForEach-Object { "$($_.Name)=$($_.Value -join ',')" }) -join ';' }
    function Get-Mode([string] $path) { if ($IsWindows) { '600' } else { (stat -c '%a' $path) } }

    # ssh-keygen -Y verify, as an auditor runs it: the exit code and what it printed.
    function Test-SshSignature([string] $Report, [string] $Signature, [string] $AllowedSigners, [string] $Identity, [string] $Namespace) {
        $allowed = Join-Path (New-TestHostPath 'signers') 'allowed_signers'
        Set-Content -Path $allowed -Value $AllowedSigners
        $out = Get-Content -Raw -AsByteStream $Report | & ssh-keygen -Y verify -f $allowed -I $Identity -n $Namespace -s $Signature 2>&1
        [pscustomobject]@{ Ok = ($LASTEXITCODE -eq 0); Output = ($out -join ' ') }
    }

    # GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1, written here independently of the product (no tables).
    function GfMul([int] $a, [int] $b) {
        $p = 0
        while ($b -ne 0) {
            if ($b -band 1) { $p = $p -bxor $a }
            $a = $a -shl 1
            if ($a -band 0x100) { $a = $a -bxor 0x11B }
            $b = $b -shr 1
        }
        $p
    }
    function GfInv([int] $a) { $r = 1; for ($i = 0; $i -lt 254; $i++) { $r = GfMul $r $a }; $r } # a^254 = a^-1
    # Lagrange interpolation at x = 0 of shares @{ X = <int>; Y = <byte[]> }.
    function Join-TestShares([object[]] $Shares) {
        $basis = foreach ($j in $Shares) {
            $l = 1
            foreach ($m in $Shares) { if ($m.X -ne $j.X) { $l = GfMul $l (GfMul $m.X (GfInv ($m.X -bxor $j.X))) } }
            $l
        }
        $length = $Shares[0].Y.Length
        $secret = [byte[]]::new($length)
        for ($b = 0; $b -lt $length; $b++) {
            $s = 0
            for ($j = 0; $j -lt $Shares.Count; $j++) { $s = $s -bxor (GfMul $Shares[$j].Y[$b] $basis[$j]) }
            $secret[$b] = $s
        }
        , $secret
    }
    function Read-TestShare([string] $Path) {
        $json = Get-Content -Raw $Path | ConvertFrom-Json
        @{ X = [int]$json.index; Y = [Convert]::FromBase64String($json.value); Json = $json }
    }
}
AfterAll { Remove-TestHosts }

Describe 'Attestation of trust: Export-HsmTrustReport' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $dir = New-TestHostPath 'audit'
        $report = Join-Path $dir 'trust.json'
    }
    It 'writes a report of every module''s six keys and chain, signed so that ssh-keygen -Y verify accepts it; a tampered copy fails' {
        $r = Export-HsmTrustReport -HostPath $h -Path $report
        $r.Trusted | Should -BeTrue
        $r.Path | Should -Be $report
        $r.SignaturePath | Should -Be "$report.sig"
        $sshadmin = Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin
        $r.SignerFingerprint | Should -Be $sshadmin.Fingerprint
        @($r.Modules).Count | Should -Be 2
        foreach ($m in $r.Modules) {
            $m.Trusted | Should -BeTrue
            $m.Chain | Should -Be 'Verified'
            @($m.Services).Count | Should -Be 6
            foreach ($s in $m.Services) {
                $s.Status | Should -Be 'Match'
                $s.Certificate | Should -Be 'Valid'
                $pin = (Get-HsmSshKey -HostPath $h -Esn $m.Esn -Role Server -Service $s.Service).Fingerprint
                $s.Pinned | Should -Be $pin
                $s.Presented | Should -Be $pin
                $s.Certified | Should -Be $pin
            }
        }
        $json = Get-Content -Raw $report | ConvertFrom-Json
        $json.format | Should -Be 'nshield-hsmadmin-trust-report-v1'
        $json.host | Should -Be ([Environment]::MachineName)
        $json.store | Should -Be $h
        $json.productVersion | Should -Not -BeNullOrEmpty
        $json.generatedAt | Should -Not -BeNullOrEmpty
        $json.signer.fingerprint | Should -Be $sshadmin.Fingerprint
        @($json.trustedRoots).Count | Should -BeGreaterThan 0
        ($json.modules.esn | Sort-Object) | Should -Be ($sim.Modules.Esn | Sort-Object)
        @($json.modules[0].services).Count | Should -Be 6
        $json.modules[0].services[0].PSObject.Properties.Name | Should -Contain 'pinned'
        $json.modules[0].services[0].PSObject.Properties.Name | Should -Contain 'presented'
        (Get-Content -Raw "$report.sig") | Should -Match '^-----BEGIN SSH SIGNATURE-----'
        if (-not $IsWindows) { Get-Mode $report | Should -Be '600'; Get-Mode "$report.sig" | Should -Be '600' }

        $good = Test-SshSignature $report "$report.sig" $r.AllowedSigners $r.SignerIdentity $r.Namespace
        $good.Output | Should -Match 'Good "nshield-hsmadmin-trust@hsmadmin" signature'
        $good.Ok | Should -BeTrue

        $tampered = Join-Path $dir 'tampered.json'
        (Get-Content -Raw $report) -replace '"trusted": true', '"trusted": false' | Set-Content -NoNewline $tampered
        (Get-Content -Raw $tampered) | Should -Not -Be (Get-Content -Raw $report) -Because 'the copy must really differ'
        (Test-SshSignature $tampered "$report.sig" $r.AllowedSigners $r.SignerIdentity $r.Namespace).Ok | Should -BeFalse
        (Test-SshSignature $report "$report.sig" $r.AllowedSigners $r.SignerIdentity 'file').Ok | Should -BeFalse -Because 'another namespace'
        # No private key material anywhere in what it wrote or returned.
        (Get-Content -Raw $report) | Should -Not -Match 'PRIVATE KEY'
        ($r | ConvertTo-Json -Depth 6) | Should -Not -Match 'PRIVATE KEY'
        (Get-AuditLines $h)[-1] | Should -Match 'trust.report'
    }
    It 'signs with ECDSA and RSA sshadmin keys too, each verified by ssh-keygen' {
        foreach ($algorithm in 'EcdsaP384', 'Rsa3072') {
            Update-HsmSshKey -HostPath $h -Service sshadmin -Algorithm $algorithm -Confirm:$false | Out-Null
            $r = Export-HsmTrustReport -HostPath $h -Path $report -Force
            $r.SignerFingerprint | Should -Be (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).Fingerprint
            $check = Test-SshSignature $report "$report.sig" $r.AllowedSigners $r.SignerIdentity $r.Namespace
            $check.Output | Should -Match 'Good'
            $check.Ok | Should -BeTrue -Because "$algorithm signatures must verify"
        }
    }
    It 'opens a passphrase-protected (P) sshadmin key with -KeyPassphrase, and asks for it rather than guessing' {
        $pw = Secure 'auditor-pass-1'
        Update-HsmSshKey -HostPath $h -Service sshadmin -Protection KFP -NewKeyPassphrase $pw -Confirm:$false | Out-Null
        $r = Export-HsmTrustReport -HostPath $h -Path $report -Force -KeyPassphrase $pw
        (Test-SshSignature $report "$report.sig" $r.AllowedSigners $r.SignerIdentity $r.Namespace).Ok | Should -BeTrue
        $job = Start-ThreadJob { param($m, $h, $p) Import-Module $m; Export-HsmTrustReport -HostPath $h -Path $p -Force -ErrorAction Stop } `
            -ArgumentList (Join-Path $repo 'NShield.HsmAdmin.psd1'), $h, $report
        { $job | Wait-Job | Receive-Job -ErrorAction Stop } | Should -Throw -ErrorId 'KeyPassphraseRequired*'
        { Export-HsmTrustReport -HostPath $h -Path $report -Force -KeyPassphrase (Secure 'wrong') -ErrorAction Stop } |
            Should -Throw -ErrorId 'KeyWrongPassphrase*'
        Update-HsmSshKey -HostPath $h -Service sshadmin -Protection KFG -KeyPassphrase $pw -Confirm:$false | Out-Null
    }
    It 'refuses a path inside the store, an existing report without -Force, and a missing folder; writes nothing' {
        $before = Get-StoreSnapshot $h
        { Export-HsmTrustReport -HostPath $h -Path (Join-Path $h 'trust.json') -ErrorAction Stop } | Should -Throw -ErrorId 'PathRefused*'
        { Export-HsmTrustReport -HostPath $h -Path (Join-Path $h 'known_hosts') -ErrorAction Stop } | Should -Throw -ErrorId 'PathRefused*'
        { Export-HsmTrustReport -HostPath $h -Path $report -ErrorAction Stop } | Should -Throw -ErrorId 'FileExists*'
        { Export-HsmTrustReport -HostPath $h -Path (Join-Path $dir 'nope/trust.json') -ErrorAction Stop } | Should -Throw -ErrorId 'KeyFileNotFound*'
        Test-Path (Join-Path $h 'trust.json') | Should -BeFalse
        Get-StoreSnapshot $h | Should -Be $before
    }
    It 'reports a changed server key as presented beside its pin: module not trusted, report still signed, pin kept' {
        $esn = $sim.Modules[0].Esn
        $pin = (Get-HsmSshKey -HostPath $h -Esn $esn -Role Server -Service ncoreapi).Fingerprint
        Set-HsmSimulatedModule -Esn $esn -ReplaceServerKey ncoreapi -SimulatorPath $sim.Path -Confirm:$false | Out-Null
        $r = Export-HsmTrustReport -HostPath $h -Path $report -Force -WarningVariable warn 3>$null
        $r.Trusted | Should -BeFalse
        $m = $r.Modules | Where-Object Esn -eq $esn
        $m.Trusted | Should -BeFalse
        $m.PinsMatch | Should -BeFalse
        $row = $m.Services | Where-Object Service -eq ncoreapi
        $row.Status | Should -Be 'Changed'
        $row.Pinned | Should -Be $pin
        $row.Presented | Should -BeLike 'SHA256:*'
        $row.Presented | Should -Not -Be $pin
        ($warn -join ' ') | Should -Match "$esn is not trusted: ncoreapi Changed"
        ($r.Modules | Where-Object Esn -ne $esn).Trusted | Should -BeTrue
        (Test-SshSignature $report "$report.sig" $r.AllowedSigners $r.SignerIdentity $r.Namespace).Ok | Should -BeTrue
        (Get-HsmSshKey -HostPath $h -Esn $esn -Role Server -Service ncoreapi).Fingerprint | Should -Be $pin
    }
}

Describe 'Split custody of the sshadmin backup' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $vault = New-TestHostPath 'vault'
        $base = Join-Path $vault 'sshadmin'
        $shares = Backup-HsmSshKey -HostPath $h -Path $base -Shares 3 -Threshold 2
        $paths = @($shares.FullName)
    }
    It 'writes three owner-only share files naming the key, the backup and the threshold' {
        $paths | Should -Be @("$base.1-of-3.share", "$base.2-of-3.share", "$base.3-of-3.share")
        $fingerprint = (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).Fingerprint
        foreach ($s in $shares) {
            $s.BackupKind | Should -Be 'Share'
            $s.Fingerprint | Should -Be $fingerprint
            $s.Threshold | Should -Be 2
            if (-not $IsWindows) { Get-Mode $s.FullName | Should -Be '600' }
            $json = Get-Content -Raw $s.FullName | ConvertFrom-Json
            $json.fingerprint | Should -Be $fingerprint
            $json.backupId | Should -Be $shares[0].BackupId
            $json.checksum | Should -Match '^[0-9a-f]{64}$'
            (Get-Content -Raw $s.FullName) | Should -Not -Match 'PRIVATE KEY'
        }
        ((Get-AuditLines $h)[-1]) | Should -Match 'shares: 2 of 3'
    }
    It 'any two shares rebuild, by this test''s own GF(256) interpolation, the backup ssh-keygen reads as the host''s sshadmin key' {
        $public = ((Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).PublicKey -split ' ')[0..1] -join ' '
        $loaded = $paths | ForEach-Object { Read-TestShare $_ }
        foreach ($pair in @(0, 1), @(0, 2), @(1, 2)) {
            $secret = Join-TestShares @($loaded[$pair[0]], $loaded[$pair[1]])
            $text = [Text.Encoding]::UTF8.GetString($secret)
            $text | Should -Match '^-----BEGIN OPENSSH PRIVATE KEY-----'
            $file = Join-Path (New-TestHostPath 'rebuilt') 'key'
            [IO.File]::WriteAllBytes($file, $secret)
            if (-not $IsWindows) { chmod 600 $file }
            ((& ssh-keygen -y -f $file) -split ' ')[0..1] -join ' ' | Should -Be $public
            Remove-Item $file
        }
        # One share alone is not the backup (the constant term is hidden).
        [Text.Encoding]::UTF8.GetString($loaded[0].Y) | Should -Not -Match 'OPENSSH'
    }
    Context 'bad share sets: each refused with its own error, nothing changes on the host or the modules' {
        BeforeAll {
            $other = Backup-HsmSshKey -HostPath $h -Path (Join-Path $vault 'again') -Shares 3 -Threshold 2
            $damaged = Join-Path $vault 'damaged.share'
            $json = Get-Content -Raw $paths[1] | ConvertFrom-Json
            $bytes = [Convert]::FromBase64String($json.value); $bytes[10] = $bytes[10] -bxor 1
            $json.value = [Convert]::ToBase64String($bytes)
            $json | ConvertTo-Json | Set-Content $damaged
            $before = Get-StoreSnapshot $h
            $moduleKeys = Get-ModuleKeys $sim $sim.Modules[0].Esn
            $audit = (Get-AuditLines $h).Count
            function Assert-Unchanged {
                Get-StoreSnapshot $h | Should -Be $before
                (Get-AuditLines $h).Count | Should -Be $audit
                Format-Keys (Get-ModuleKeys $sim $sim.Modules[0].Esn) | Should -Be (Format-Keys $moduleKeys)
            }
        }
        It 'fewer than K different shares: ShareThresholdNotMet, naming how many are needed' {
            @($moduleKeys.sshadmin).Count | Should -Be 1
            { Restore-HsmSshKey -HostPath $h -SharePath $paths[0] -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'ShareThresholdNotMet*'
            { Restore-HsmSshKey -HostPath $h -SharePath $paths[0], $paths[0] -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'ShareThresholdNotMet*' -Because 'the same share twice is one share'
            { Move-HsmModule -HostPath $h -Esn $sim.Modules[0].Esn -SharePath $paths[2] -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'ShareThresholdNotMet*'
            try { Restore-HsmSshKey -HostPath $h -SharePath $paths[0] -Confirm:$false -ErrorAction Stop }
            catch { $_.Exception.Message | Should -Match 'needs 2 of its 3 shares' }
            Assert-Unchanged
        }
        It 'shares of two different backups of the same key: ShareSetMixed' {
            { Restore-HsmSshKey -HostPath $h -SharePath $paths[0], $other[1].FullName -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'ShareSetMixed*'
            Assert-Unchanged
        }
        It 'a share whose value was changed: ShareCorrupt, found by its checksum before anything is combined' {
            { Restore-HsmSshKey -HostPath $h -SharePath $paths[0], $damaged -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'ShareCorrupt*'
            try { Restore-HsmSshKey -HostPath $h -SharePath $paths[0], $damaged -Confirm:$false -ErrorAction Stop }
            catch { $_.Exception.Message | Should -Match "'$([regex]::Escape($damaged))' is damaged: its checksum" }
            Assert-Unchanged
        }
        It 'a missing share file: KeyFileNotFound' {
            { Restore-HsmSshKey -HostPath $h -SharePath $paths[0], (Join-Path $vault 'missing.share') -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'KeyFileNotFound*'
            Assert-Unchanged
            Test-HsmConnection -HostPath $h | Should -BeTrue
        }
    }
    It 'refuses a split whose threshold is below 2 or above the share count, and share paths in the store; writes nothing' {
        $before = @(Get-ChildItem $vault).Count
        $x = Join-Path $vault 'x'
        { Backup-HsmSshKey -HostPath $h -Path $x -Shares 3 -Threshold 1 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidShareSplit*'
        { Backup-HsmSshKey -HostPath $h -Path $x -Shares 2 -Threshold 3 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidShareSplit*'
        { Backup-HsmSshKey -HostPath $h -Path (Join-Path $h 'x') -Shares 3 -Threshold 2 -ErrorAction Stop } | Should -Throw -ErrorId 'PathRefused*'
        { Backup-HsmSshKey -HostPath $h -Path $base -Shares 3 -Threshold 2 -ErrorAction Stop } | Should -Throw -ErrorId 'FileExists*'
        @(Get-ChildItem $vault).Count | Should -Be $before
        @(Get-ChildItem $h -Filter '*.share' -Recurse).Count | Should -Be 0
    }
    It 'Restore-HsmSshKey -SharePath restores the key from any two shares and keeps its creation time' {
        $before = Get-HsmSshKey -HostPath $h -Role Client
        $r = Restore-HsmSshKey -HostPath $h -SharePath $paths[2], $paths[0] -Confirm:$false
        $r.Status | Should -Be 'Completed'
        $after = Get-HsmSshKey -HostPath $h -Role Client
        ($after | Where-Object Service -eq sshadmin).Fingerprint | Should -Be ($before | Where-Object Service -eq sshadmin).Fingerprint
        ($after | Where-Object Service -eq ncoreapi).Fingerprint | Should -Not -Be ($before | Where-Object Service -eq ncoreapi).Fingerprint
        ($after | Where-Object Service -eq sshadmin).Created | Should -Be ($before | Where-Object Service -eq sshadmin).Created
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Assert-ModulesHoldHostKeys $sim $h $sim.Modules.Esn
    }
    It 'shares made with -Passphrase need K shares and the passphrase (dual control plus a secret)' {
        $pw = Secure 'second factor'
        $locked = Backup-HsmSshKey -HostPath $h -Path (Join-Path $vault 'locked') -Shares 2 -Threshold 2 -Passphrase $pw
        (Get-Content -Raw $locked[0].FullName | ConvertFrom-Json).passphrase | Should -BeTrue
        $text = [Text.Encoding]::UTF8.GetString((Join-TestShares @((Read-TestShare $locked[0].FullName), (Read-TestShare $locked[1].FullName))))
        $text | Should -Match '^-----BEGIN OPENSSH PRIVATE KEY-----'
        $file = Join-Path (New-TestHostPath 'rebuilt') 'key'
        [IO.File]::WriteAllText($file, $text)
        if (-not $IsWindows) { chmod 600 $file }
        & ssh-keygen -y -P '' -f $file 2>$null | Out-Null
        $LASTEXITCODE | Should -Not -Be 0 -Because 'the rebuilt backup is encrypted under the passphrase'
        { Restore-HsmSshKey -HostPath $h -SharePath $locked.FullName -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'KeyPassphraseRequired*'
        (Restore-HsmSshKey -HostPath $h -SharePath $locked.FullName -Passphrase $pw -Confirm:$false).Status | Should -Be 'Completed'
    }
}

Describe 'Split custody: Move-HsmModule with K shares of the destination''s backup' {
    BeforeAll {
        $source = Start-TestSimulator -ModuleCount 1
        $destination = Start-TestSimulator -ModuleCount 1
        $a = $source.HostPath; $b = $destination.HostPath
        Invoke-HsmEnroll -HostPath $a | Out-Null
        Invoke-HsmEnroll -HostPath $b | Out-Null
        $moving = $source.Modules[0].Esn
    }
    It 'hands the module over with 2 of 3 shares, and enroll on the destination completes the move' {
        $custody = New-TestHostPath 'custodians'
        $shares = Backup-HsmSshKey -HostPath $b -Path (Join-Path $custody 'b-sshadmin') -Shares 3 -Threshold 2
        $r = Move-HsmModule -HostPath $a -Esn $moving -SharePath $shares[0].FullName, $shares[2].FullName -Confirm:$false
        $r.Status | Should -Be 'Released'
        $r.DestinationKeyFingerprint | Should -Be (Get-HsmSshKey -HostPath $b -Role Client -Service sshadmin).Fingerprint
        Move-HsmSimulatedModule -Esn $moving -DestinationHostPath $b -SimulatorPath $source.Path | Out-Null
        (Invoke-HsmEnroll -HostPath $b | Where-Object Esn -eq $moving).Action | Should -Be 'Enrolled'
        Test-HsmConnection -HostPath $b | Should -BeTrue
    }
}
