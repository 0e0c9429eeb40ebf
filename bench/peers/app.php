<?php
// Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
// bench/peers/app.php -- php-fpm peer: the three bench workloads, like kit.
//   /            "hello\n"
//   /big?kb=N    N KiB (16-byte lines, made with str_repeat: PHP keeps no state
//                between requests, and formatting kit's pattern line by line
//                would measure sprintf, not the transfer)
//   /echo        the request body back
header('Content-Type: text/plain');
// DOCUMENT_URI is nginx's; Apache's mod_proxy_fcgi (rows g-i) sends REQUEST_URI only
$path = $_SERVER['DOCUMENT_URI'] ?? parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?? '/';
if ($path === '/big') {
    $kb = max(0, min(1024, (int) ($_GET['kb'] ?? 64)));
    echo str_repeat("0123456789abcde\n", $kb * 64);
} elseif ($path === '/echo') {
    echo file_get_contents('php://input');
} else {
    echo "hello\n";
}
